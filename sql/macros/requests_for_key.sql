MODEL (
  name requests_for_key,
  kind MACRO,
  description 'requests_for_key(pattern): every request whose key (raw or decoded) is LIKE the pattern, in time order.'
);
CREATE OR REPLACE MACRO requests_for_key(key_like) AS TABLE
    SELECT request_time, bucket, operation, key, http_status, requester, remote_ip
    FROM access_logs WHERE key LIKE key_like OR key_decoded LIKE key_like
    ORDER BY request_time;
