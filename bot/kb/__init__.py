"""Knowledge base: Markdown articles, chunking, embedding, FAISS index and search."""
