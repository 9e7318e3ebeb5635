"""Foreign exchange: rate sources (`rates`) and the quotes customers accept (`quotes`)."""
