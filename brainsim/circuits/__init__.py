"""Brian2 circuit builders: frozen parameter dataclass in, network and handles out."""
