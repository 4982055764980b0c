/** XEP-0004 data forms: what the agent and the hub check in a submitted form. */
import type { Element } from '@xmpp/xml';

/**
 * Why a submitted XEP-0004 form is not of the expected FORM_TYPE (XEP-0068 §4), or undefined when it is. A form
 * without FORM_TYPE is accepted unless `required`: slixmpp's make_form and Gajim submit forms without it.
 */
export function formTypeProblem(form: Element, expected: string, required = false): string | undefined {
  const field = form.getChildren('field').find((f) => f.attrs.var === 'FORM_TYPE');
  if (!field) return required ? `the form must carry FORM_TYPE ${expected}` : undefined;
  return field.getChildText('value') === expected ? undefined : `expected FORM_TYPE ${expected}`;
}
