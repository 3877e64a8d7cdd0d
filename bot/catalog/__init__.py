"""The store's product catalogue: read from its Merchant feed, synced into versions, searched.

- `feed`: reads the Google Merchant product feed (RSS 2.0 XML with the g: namespace, or its
  tab-separated variant) into items, reporting broken items with their line and skipping them.
- `product`: an item (one variant) and a product (the variants that share an item_group_id).
- `fetch`: brings a feed's bytes from a path or an http(s) address, within a size limit.
- `store`: the catalogue folder: immutable versions, an atomic CURRENT pointer, a status file.
- `sync`: one sync: fetch, parse, embed only new or changed products, publish.
- `query`: the attributes a question states (colour, size, material, price, stock) as filters.
- `search`: lexical and semantic search over products, fused, with those filters.
- `demo`: writes the demo store's feed (catalog/demo-feed.xml) deterministically.
"""
