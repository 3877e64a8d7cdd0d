"""The dialogue without Rasa: a Turn in, a Plan out (decision), and the words it says (replies)."""
