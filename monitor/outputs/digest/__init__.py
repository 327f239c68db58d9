"""Daily digests: their numbers (build), charts, renderings, and the jobs that write and send them."""
