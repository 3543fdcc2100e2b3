"""A connection's credentials: the OAuth token lifecycle and the API clients built from them."""
