// JSON Schema keywords (draft 2020-12 and the older ones MCP servers still send), by what their
// value is: a schema, a map of named schemas, data (instances: default, const, enum, examples) or
// an annotation (type, title, description, pattern, limits). A tool's inputSchema/outputSchema is
// walked with these, so key rules do not break its structure (a property named "password" keeps
// its {"type": "string"}) while the data a schema carries is still masked by the property's rule.
// A member that is not a keyword is data and is masked as in any document.

export type SchemaKeyword = 'schema' | 'names' | 'data' | 'annotation' | 'other';

const KINDS = new Map<string, SchemaKeyword>();
for (const k of ['items', 'additionalItems', 'prefixItems', 'contains', 'additionalProperties', 'unevaluatedProperties',
  'unevaluatedItems', 'propertyNames', 'not', 'if', 'then', 'else', 'anyOf', 'oneOf', 'allOf']) KINDS.set(k, 'schema');
for (const k of ['properties', 'patternProperties', '$defs', 'definitions', 'dependentSchemas']) KINDS.set(k, 'names');
for (const k of ['default', 'const', 'enum', 'examples', 'example']) KINDS.set(k, 'data');
for (const k of ['type', 'title', 'description', 'format', 'pattern', 'required', 'dependentRequired', '$schema', '$id', '$ref',
  '$anchor', '$dynamicRef', '$dynamicAnchor', '$comment', '$vocabulary', 'minLength', 'maxLength', 'minimum', 'maximum',
  'exclusiveMinimum', 'exclusiveMaximum', 'multipleOf', 'minItems', 'maxItems', 'uniqueItems', 'minProperties',
  'maxProperties', 'minContains', 'maxContains', 'contentMediaType', 'contentEncoding', 'contentSchema', 'readOnly',
  'writeOnly', 'deprecated', 'nullable']) KINDS.set(k, 'annotation');

export const schemaKeyword = (k: string): SchemaKeyword => KINDS.get(k) ?? 'other';
