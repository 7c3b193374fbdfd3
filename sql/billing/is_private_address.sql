MODEL (
  name is_private_address,
  kind MACRO,
  description 'is_private_address(ip): true for private, loopback and link-local addresses (10/8, 172.16/12, 192.168/16, 127/8, 169.254/16, fc00::/7, fe80::/10, ::1): requests from inside a VPC (through a gateway endpoint), not data sent to the internet.'
);
CREATE OR REPLACE MACRO is_private_address(ip) AS
    ip_key(ip) BETWEEN '00000000000000000000ffff0a000000' AND '00000000000000000000ffff0affffff'
    OR ip_key(ip) BETWEEN '00000000000000000000ffffac100000' AND '00000000000000000000ffffac1fffff'
    OR ip_key(ip) BETWEEN '00000000000000000000ffffc0a80000' AND '00000000000000000000ffffc0a8ffff'
    OR ip_key(ip) BETWEEN '00000000000000000000ffff7f000000' AND '00000000000000000000ffff7fffffff'
    OR ip_key(ip) BETWEEN '00000000000000000000ffffa9fe0000' AND '00000000000000000000ffffa9feffff'
    OR ip_key(ip) BETWEEN 'fc000000000000000000000000000000' AND 'fdffffffffffffffffffffffffffffff'
    OR ip_key(ip) BETWEEN 'fe800000000000000000000000000000' AND 'febfffffffffffffffffffffffffffff'
    OR ip_key(ip) = '00000000000000000000000000000001';
