MODEL (
  name access_kind,
  kind MACRO,
  description 'access_kind(operation): what a request does to a bucket, as a policy grants it: read (GET, HEAD, OPTIONS, listings, the source side of a copy), write (object uploads, copies, restores, object tags), delete (object deletes) or configure (every other PUT, POST or DELETE: ACLs, policies, public access blocks, logging and the bucket''s other settings, including operations no list names yet).'
);
CREATE OR REPLACE MACRO access_kind(operation) AS CASE
    WHEN operation IN ('REST.DELETE.OBJECT', 'BATCH.DELETE.OBJECT',
                       'REST.POST.MULTI_OBJECT_DELETE') THEN 'delete'
    WHEN operation IN ('REST.PUT.OBJECT', 'REST.PUT.PART', 'REST.POST.UPLOADS',
                       'REST.POST.UPLOAD', 'REST.DELETE.UPLOAD', 'REST.POST.OBJECT',
                       'REST.POST.BUCKET', 'REST.COPY.OBJECT', 'REST.COPY.PART',
                       'REST.POST.RESTORE', 'REST.PUT.OBJECT_TAGGING',
                       'REST.DELETE.OBJECT_TAGGING') THEN 'write'
    WHEN operation IS NULL OR split_part(operation, '.', 2) IN ('GET', 'HEAD', 'OPTIONS')
         OR operation IN ('REST.COPY.OBJECT_GET', 'REST.COPY.PART_GET')
         OR operation LIKE 'S3.%' THEN 'read'
    ELSE 'configure'
END;
