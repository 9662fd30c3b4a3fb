// Validates KEDA ScaledObjects and Prometheus Operator ServiceMonitors against their CRD schemas,
// as compiled by the npm packages @kubernetes-models/keda and @kubernetes-models/prometheus-operator
// (installed by deploy_tools.py). Usage: node validate_crds.mjs NODE_MODULES < objects.json
// Prints one {kind, name, error} per object; error is null when the object is valid.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const modules = process.argv[2];
const load = async (path) => import(pathToFileURL(join(modules, path)).href);
const { ScaledObject } = await load("@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject.js");
const { ServiceMonitor } = await load(
  "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor.js",
);
const models = {
  "keda.sh/v1alpha1/ScaledObject": ScaledObject,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
};
const results = [];
for (const doc of JSON.parse(readFileSync(0, "utf8"))) {
  const Model = models[`${doc.apiVersion}/${doc.kind}`];
  const result = { kind: doc.kind, name: doc.metadata?.name, error: null };
  if (!Model) {
    result.error = `no schema for ${doc.apiVersion}/${doc.kind}`;
  } else {
    try {
      new Model(doc).validate();
    } catch (e) {
      result.error = String(e?.message ?? e);
    }
  }
  results.push(result);
}
process.stdout.write(JSON.stringify(results));
