"""The model adapter: the mistralai SDK and Tekken token counts (the only package that imports them)."""
