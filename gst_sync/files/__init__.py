"""Files from and for the GST portal for users without API access: the formats (IMS JSON, GSTR-2B JSON, Offline
Tool SAVE/RESET files; pure), their import into the documents and 2B statements, and the pages and API that take
them."""
