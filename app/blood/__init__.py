"""Blood requests, compatible-donor matching and expiry."""
