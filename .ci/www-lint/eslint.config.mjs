// The report page's script: a browser script (no modules), checked with ESLint's recommended rules.
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  { languageOptions: { ecmaVersion: 2020, sourceType: "script", globals: globals.browser } },
];
