MODEL (
  name is_private_address,
  kind MACRO,
  engines (duckdb, spark),
  description 'is_private_address(ip): true for private, loopback and link-local addresses (10/8, 172.16/12, 192.168/16, 127/8, 169.254/16, fc00::/7, fe80::/10, ::1): requests from inside a VPC (through a gateway endpoint), not data sent to the internet. Text tests only, so billing stays a scan.'
);
CREATE OR REPLACE MACRO is_private_address(ip) AS
    regexp_matches(ip, '^(10\.|127\.|192\.168\.|169\.254\.|172\.(1[6-9]|2[0-9]|3[01])\.)')
    OR regexp_matches(lower(ip), '^(f[cd][0-9a-f]{0,2}:|fe[89ab][0-9a-f]:|::1$)');
