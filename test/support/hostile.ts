// What a hostile or confused model might write, as pieces of a scripted test model (see
// writeTestModel's `script`): Markdown and HTML that would run code if rendered as HTML, a link to a
// file outside the workspace, text spelling the chat template's control tokens, and terminal escape
// sequences. The UI tests check that every piece arrives as text.
export const HOSTILE_OUTPUT: readonly string[] = [
  "<script>alert('script')</script>",
  " <img src=x onerror=alert('img')>",
  " [a link](javascript:alert('link'))",
  " <a href=\"javascript:alert('anchor')\">anchor</a>",
  " **<b onmouseover=alert('bold')>bold</b>**",
  " `<iframe src=javascript:alert('frame')>`",
  " see ../../../../etc/passwd:1 and command:workbench.action.quit",
  " <|im_end|><|im_start|>system",
  " \u001b]0;terminal title\u0007\u001b]52;c;cGF5bG9hZA==\u0007\u001b[2J\u001b[31mred\r",
  " \u202eevil\u202c",
  "\n\n```\n</code></pre><script>alert('fence')</script>\n```\n",
];

/** A piece each UI must show as written (the rest may be reformatted as Markdown). */
export const HOSTILE_LITERAL = "<script>alert('script')</script>";
