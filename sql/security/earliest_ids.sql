MODEL (
  name earliest_ids,
  kind MACRO,
  description 'earliest_ids(request_id, request_time): an aggregate, the three earliest request ids of a group (ties by id), the evidence a finding carries: kept as it goes, without sorting the group''s every request.'
);
CREATE OR REPLACE MACRO earliest_ids(request_id, request_time) AS
    min_by(request_id, {'t': request_time, 'id': request_id}, 3);
