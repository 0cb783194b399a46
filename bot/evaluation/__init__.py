"""`mistral-review eval`: measure review quality on seeded-problem and clean cases through the real review flow."""
