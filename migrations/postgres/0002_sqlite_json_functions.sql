-- The two JSON functions of SQLite the store's SQL uses, with SQLite's meaning for the
-- paths it writes ('$', '$.a', '$.a.b'): json_extract gives a string's value, another
-- value's JSON text, and NULL for a missing path or a JSON null; json_each lists an
-- object's members as (key, value) with the same conversion. Documents are TEXT columns.

CREATE FUNCTION json_extract(doc TEXT, path TEXT) RETURNS TEXT
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE jsonb_typeof(v) WHEN 'string' THEN v #>> '{}' WHEN 'null' THEN NULL ELSE v::text END
      FROM (SELECT doc::jsonb #> string_to_array(substr(path, 3), '.') AS v) s
$$;

CREATE FUNCTION json_each(doc TEXT, path TEXT) RETURNS TABLE (key TEXT, value TEXT)
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT e.key, CASE jsonb_typeof(e.value) WHEN 'string' THEN e.value #>> '{}' ELSE e.value::text END
      FROM jsonb_each(doc::jsonb #> string_to_array(substr(path, 3), '.')) e
$$;
