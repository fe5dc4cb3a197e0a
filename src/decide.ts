// src/daemon.ts builds the rule services from here until its import names src/requests/ruleServices.ts.
export { ruleServices } from "./requests/ruleServices.ts";
