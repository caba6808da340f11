"""Development tools outside the production apps: the sandbox GST portal and the GETINV record generator that the
demo, the benchmarks and the sandbox use. No Django app imports them."""
