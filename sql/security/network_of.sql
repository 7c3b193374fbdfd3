MODEL (
  name network_of,
  kind MACRO,
  description 'network_of(ip): the /24 (IPv4) or /48 (IPv6) network an address is in, as CIDR text: what a principal''s networks are baselined by (NAT pools and office ranges move within them).'
);
CREATE OR REPLACE MACRO network_of(ip) AS
    CASE WHEN ip LIKE '%:%' THEN
             substr(ip_key(ip), 1, 4) || ':' || substr(ip_key(ip), 5, 4) || ':'
             || substr(ip_key(ip), 9, 4) || '::/48'
         WHEN ip IS NOT NULL THEN regexp_replace(ip, '\.[0-9]+$', '.0/24')
    END;
