MODEL (
  name url_decode_lossy,
  kind MACRO,
  engines (duckdb, spark, trino),
  description 'url_decode_lossy(text): text URL-decoded as url_decode does it (each %XX its byte; a + stays a +, a % that starts no escape stays), except that it never fails: where the bytes are not UTF-8, each invalid sequence becomes U+FFFD and the rest is decoded. The sequences are those Java''s UTF-8 decoder replaces (the longest valid start of a character, and an encoded surrogate %ED%A0..%ED%BF with its continuation), so Spark and Trino (url_decode) give the same text.'
);
-- DuckDB's url_decode refuses bytes that are not UTF-8 (`decoded value is invalid UTF8`),
-- failing the whole query. Where it does, the text is decoded here by hand: written out as
-- the hex of the bytes it stands for (an escape's byte, the UTF-8 of anything else), cut
-- into characters (a valid one, else the invalid sequence Java's decoder replaces as one),
-- each character decoded and each invalid sequence U+FFFD. CASE (not coalesce) so that
-- only the texts url_decode refuses take the slow way.
CREATE OR REPLACE MACRO url_decode_lossy(encoded) AS CASE
    WHEN try(url_decode(encoded)) IS NOT NULL THEN try(url_decode(encoded))
    ELSE array_to_string(list_transform(
        regexp_extract_all(
            array_to_string(list_transform(
                regexp_extract_all(encoded, '%[0-9A-Fa-f]{2}|[^%]+|%'),
                lambda part: CASE WHEN regexp_full_match(part, '%[0-9A-Fa-f]{2}')
                                  THEN upper(part[2:]) ELSE hex(part) END), ''),
            -- a valid character of 1, 2, 3 or 4 bytes
            '[0-7][0-9A-F]'
            || '|(?:C[2-9A-F]|D[0-9A-F])[89AB][0-9A-F]'
            || '|(?:E0[AB][0-9A-F]|E[1-9A-CEF][89AB][0-9A-F]|ED[89][0-9A-F])[89AB][0-9A-F]'
            || '|(?:F0[9AB][0-9A-F]|F[1-3][89AB][0-9A-F]|F48[0-9A-F])(?:[89AB][0-9A-F]){2}'
            -- else one invalid sequence: an encoded surrogate, whole or cut (Java's rule),
            || '|ED[AB][0-9A-F](?:[89AB][0-9A-F])?'
            -- the valid start of a 4-byte or 3-byte character cut short,
            || '|(?:F0[9AB][0-9A-F]|F[1-3][89AB][0-9A-F]|F48[0-9A-F])(?:[89AB][0-9A-F])?'
            || '|E0[AB][0-9A-F]|E[1-9A-CEF][89AB][0-9A-F]|ED[89][0-9A-F]'
            -- or any other byte (a lone lead or continuation byte, C0, C1, F5..FF)
            || '|[0-9A-F]{2}'),
        lambda bytes: coalesce(try(decode(unhex(bytes))), chr(65533))), '')
END;
