"""Writers of inward-document data (one module per capability). Each writes its audit events in the same
transaction as its change."""
