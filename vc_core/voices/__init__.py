"""Voice bundles: manifest, verification, the library and the voice kinds."""
