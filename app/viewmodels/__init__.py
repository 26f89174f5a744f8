"""View-models: QObjects with signals and plain methods, no widgets. Views bind to them."""
