/** A parameterised statement built from a tagged template: values become `$n` parameters, never SQL text. */
export interface SqlStatement {
  text: string;
  params: unknown[];
}

export function sqlStatement(strings: TemplateStringsArray, values: readonly unknown[]): SqlStatement {
  let text = strings[0] ?? '';
  for (let i = 0; i < values.length; i++) text += `$${i + 1}${strings[i + 1] ?? ''}`;
  return { text, params: [...values] };
}
