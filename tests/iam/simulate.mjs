// Evaluates requests against an identity policy as IAM does (actions, resource ARNs, condition operators and
// keys), with @cloud-copilot/iam-simulate. Input (argv[2]): {"account", "principal", "policy", "requests":
// [{"action", "resource", "context"}]}; output: one JSON array, per request {"result"} ("Allowed",
// "ImplicitlyDenied", "ExplicitlyDenied") or {"error"}.
import { runSimulation } from '@cloud-copilot/iam-simulate'
import { readFileSync } from 'node:fs'

const input = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const results = []
for (const request of input.requests) {
  // KMS decides with the key policy too: the tests' keys let the account's principals use them (the default
  // key policy), so only the identity policy is under test.
  const keyPolicy = request.action.startsWith('kms:') ? {
    Version: '2012-10-17',
    Statement: [{ Effect: 'Allow', Principal: { AWS: `arn:aws:iam::${input.account}:root` }, Action: 'kms:*', Resource: '*' }],
  } : undefined
  const simulation = await runSimulation({
    identityPolicies: [{ name: 'inline', policy: input.policy }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
    resourcePolicy: keyPolicy,
    request: {
      action: request.action,
      principal: input.principal,
      resource: { accountId: input.account, resource: request.resource },
      contextVariables: request.context || {},
    },
  }, {})
  if (simulation.resultType === 'error') {
    results.push({ error: JSON.stringify(simulation.errors) })
  } else {
    results.push({ result: simulation.overallResult })
  }
}
console.log(JSON.stringify(results))
