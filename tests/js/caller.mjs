// The AWS SDK for JavaScript v3 as vault's client (tests/jssdk.rs): GetCallerIdentity through
// the SDK's default credential chain (environment, AWS_PROFILE's credential_process, the
// container endpoint's fromHttp), printing one JSON line per call: the ARN, the Expiration the
// chain resolved (ISO, or null), and the raw Expiration text the credentials' source sent.
//
// Arguments: how many calls; optional `--after-expiry`: before each later call, wait until the
// previous credentials have expired, so the next call must get fresh ones; optional
// `--provider=NAME`: instead of the client's own default chain, one of
// @aws-sdk/credential-providers' providers: node (fromNodeProviderChain), http (fromHttp),
// container (fromContainerMetadata), process (fromProcess, for AWS_PROFILE), env (fromEnv).
import { execSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { STSClient, GetCallerIdentityCommand } from "@aws-sdk/client-sts";
import {
  fromContainerMetadata,
  fromEnv,
  fromHttp,
  fromNodeProviderChain,
  fromProcess,
} from "@aws-sdk/credential-providers";

const calls = Number(process.argv[2] ?? "1");
const afterExpiry = process.argv.includes("--after-expiry");
const providerName = process.argv.find((a) => a.startsWith("--provider="))?.slice(11);
const providers = {
  node: () => fromNodeProviderChain(),
  http: () => fromHttp(),
  container: () => fromContainerMetadata({ timeout: 5000 }),
  process: () => fromProcess({ profile: process.env.AWS_PROFILE }),
  env: () => fromEnv(),
};
if (providerName && !providers[providerName]) throw new Error(`no provider ${providerName}`);

// What the source itself sent, before the SDK parsed it: the container endpoint's JSON, or
// the stdout of AWS_PROFILE's credential_process (read from the config as the SDK reads it).
async function rawExpiration() {
  const url = process.env.AWS_CONTAINER_CREDENTIALS_FULL_URI;
  if (url) {
    const r = await fetch(url, {
      headers: { Authorization: process.env.AWS_CONTAINER_AUTHORIZATION_TOKEN ?? "" },
    });
    return (await r.json()).Expiration ?? null;
  }
  const profile = process.env.AWS_PROFILE;
  if (profile && process.env.AWS_CONFIG_FILE) {
    let inProfile = false;
    for (const line of readFileSync(process.env.AWS_CONFIG_FILE, "utf8").split("\n")) {
      const head = line.match(/^\s*\[(.*)\]\s*$/);
      if (head) {
        inProfile = head[1].trim() === `profile ${profile}`;
        continue;
      }
      const cp = line.match(/^\s*credential_process\s*=\s*(.*)$/);
      if (inProfile && cp) {
        return JSON.parse(execSync(cp[1], { encoding: "utf8" })).Expiration ?? null;
      }
    }
  }
  return process.env.AWS_CREDENTIAL_EXPIRATION ?? null;
}

const client = new STSClient(providerName ? { credentials: providers[providerName]() } : {});
let previous = null;
for (let i = 0; i < calls; i++) {
  if (afterExpiry && previous) {
    const wait = previous.getTime() - Date.now() + 1000;
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const ident = await client.send(new GetCallerIdentityCommand({}));
  const creds = await client.config.credentials();
  previous = creds.expiration ?? null;
  console.log(
    JSON.stringify({
      arn: ident.Arn,
      accessKeyId: creds.accessKeyId,
      expiration: creds.expiration ? creds.expiration.toISOString() : null,
      raw: await rawExpiration(),
    }),
  );
}
