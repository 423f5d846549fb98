"""The OpenAPI 3.1 document, by area."""
