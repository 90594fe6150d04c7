// The report page's stylesheet: stylelint's recommended rules (errors, not formatting taste).
export default { extends: ["stylelint-config-recommended"] };
