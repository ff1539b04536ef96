"""TaskFlow web: the browser app, a backend-for-frontend on the four services' public API."""
