"""The SQL catalog, shipped inside the package as `s3logs_sql` (package data read through
importlib.resources). The SQL files are the content; this file only makes the folder a
package. See README.md here for the header every file carries."""
