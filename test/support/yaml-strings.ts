// Read by test/unit/yaml.test.ts (the yaml package as reader) and test/validators.test.ts (nodeadm's Go reader).

/** Strings that sit on each rule's edge: indicators, resolvable words and numbers, line breaks, quotes. */
export const HOSTILE_STRINGS = [
  ...['', ' ', 'a', 'yes', 'No', 'ON', 'y', 'n', '~', 'null', 'NULL', '1', '-1', '+1', '0o17', '0x1F', '0b101', '1_000', '017', '1:20', '190:20:30.15'],
  ...['1.5', '.5', '1.', '.', '1e3', '1.2e-3', '.inf', '-.Inf', '.NaN', '2001-12-14', '2001-12-14t21:59:43.10-05:00', '2001-12-14 21:59:43.10 -5'],
  ...['=', '<<', '-', '?', ':', '- a', '? a', ':a', 'a: b', 'a:b', 'a #b', 'a#b', '#c', '&a', '*a', '!t', '|', '>', "'", '"', '%x', '@x', '`x', ','],
  ...['[a]', ']', '{a: 1}', '}', '---', '...', '--- x', '...x', 'a:', 'a ', ' a', '\t', 'a\tb', '\ta', 'a\t'],
  ...['\n', 'a\n', 'a\nb', '\na', ' a\nb', '\n a', 'a\n\n', 'a\n\nb\n', 'a \nb', 'a\n ', 'a\nb ', '  \n', 'a\n---\nb', '- a\n- b\n', '#!/bin/bash\nset -eu\n'],
  ...['é', 'x\u00a0y', '😀', '\u2028', 'a\u0085b', '\ufeff', 'a\u007fb', "it's", 'say "hi"', `both ' and "`, '"quoted"', "'single'", '\\', '\\n', 'C:\\path'],
  ...['key: with colon', 'value\n---\nkind: Secret', "'single' \"double\" {braces} [list] *anchor &ref !tag %pct @at `tick`", 'http://proxy:3128/p%40th', '*.internal', '10.0.0.0/8'],
  // Go's numbers (go-yaml v2 drops every _ and asks strconv, base 0, and a 0b it parses itself): nodeadm read these as numbers.
  ...['0X1F', '0B1', '0O17', '-0o17', '+0o7', '+_1', '-_7', '0_x1F', '1e3_1', '0e_1', '1e_3', '0o1_7', '0b-1', '0b+1', '1_e3', '1._5', '0_8'],
  // A literal block whose first line starts with a tab: go-yaml takes it for indentation ('found a tab character').
  ...['\ta\nb', '\n\ta\n', '\n\t<<\u200bnan #\n', '\t\n x\n'],
  // Longer than the 1024 characters YAML lets an implicit key span (as keys: go-yaml and the yaml package refuse the line).
  ...['k'.repeat(1030), `${'"'.repeat(300)}é${'\n'.repeat(300)}`],
];
