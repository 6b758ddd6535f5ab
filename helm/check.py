"""Checks the Helm chart without a cluster, with Helm's own library
(helm-python-sdk) and the Kubernetes schemas (kubernetes-validate):

- `helm lint` finds no error (warnings are shown);
- the values schema refuses bad values, naming them;
- the templates render for the default values (with tokens), for a variant
  with every option on, and refuse auth without tokens;
- every rendered manifest validates against the Kubernetes schema of the
  oldest supported version (CRDs such as ServiceMonitor are checked by shape);
- the rendered objects have the properties the design asks for: 2+
  coordinator replicas, gRPC health probes, an HPA on the agents, PDBs, the
  Secret mounted, the advertise address from the pod IP.

Usage: python helm/check.py helm/throng
"""

import sys

import kubernetes_validate
import yaml
from helm_python import chart as helm

KUBE_VERSION = "1.30.0"
TOKENS = {
    "auth": {
        "tokens": [
            {"role": "admin", "token": "admin-0123456789abcdef"},
            {"role": "read", "token": "read-0123456789abcdef"},
        ],
        "clusterToken": "cluster-0123456789abcdef",
    }
}


def fail(message):
    print(f"helm check: {message}")
    sys.exit(1)


def merge(base, extra):
    out = dict(base)
    for key, value in extra.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def render(chart, values):
    manifests = chart.render(values, name="throng", namespace="load")
    objects = []
    for path, text in manifests.items():
        if not path.endswith((".yaml", ".yml")):
            continue
        for document in yaml.safe_load_all(text):
            if document:
                objects.append(document)
    return objects


def validate(objects):
    for obj in objects:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            spec = obj.get("spec", {})
            if not spec.get("endpoints") or not spec.get("selector"):
                fail(f"ServiceMonitor without endpoints or selector: {obj}")
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            fail(f"{obj['kind']} {obj['metadata']['name']}: {error.message} at {list(error.path)}")


def find(objects, kind, suffix):
    for obj in objects:
        if obj["kind"] == kind and obj["metadata"]["name"].endswith(suffix):
            return obj
    fail(f"no {kind} named …{suffix}")


def main(path):
    report = helm.lint(path, TOKENS, kube_version=f"v{KUBE_VERSION}")
    for message in report["messages"]:
        print(f"lint [{message['severity']}] {message['path']}: {message['error']}")
    if report["errors"] or any(m["severity"] >= 3 for m in report["messages"]):
        fail(f"helm lint found errors: {report['errors']}")

    chart = helm.Chart.load(path)
    for bad, named in [
        ({"agent": {"capacity": 0}}, "capacity"),
        ({"auth": {"tokens": [{"role": "root", "token": "x" * 20}]}}, "role"),
        ({"coordinator": {"replicas": "two"}}, "replicas"),
    ]:
        try:
            chart.validate_schema(merge(TOKENS, bad))
        except Exception as error:  # HelmValuesError
            if named not in str(error):
                fail(f"the schema refused {bad} without naming {named}: {error}")
        else:
            fail(f"the schema accepted {bad}")

    try:
        render(chart, {})
    except Exception as error:
        if "auth.tokens" not in str(error):
            fail(f"auth without tokens failed without saying so: {error}")
    else:
        fail("auth enabled without tokens rendered")

    defaults = render(chart, TOKENS)
    validate(defaults)
    coordinator = find(defaults, "Deployment", "-coordinator")
    if coordinator["spec"]["replicas"] < 2:
        fail("fewer than 2 coordinators by default")
    container = coordinator["spec"]["template"]["spec"]["containers"][0]
    if "grpc" not in container["readinessProbe"]:
        fail("the coordinator's readiness is not a gRPC health probe")
    if not any(a.startswith("--advertise=http://$(POD_IP)") for a in container["args"]):
        fail("the coordinator does not advertise its pod address")
    agent = find(defaults, "Deployment", "-agent")
    if "replicas" in agent["spec"]:
        fail("an autoscaled Deployment must leave replicas to the HPA")
    hpa = find(defaults, "HorizontalPodAutoscaler", "-agent")
    if hpa["spec"]["scaleTargetRef"]["name"] != agent["metadata"]["name"]:
        fail("the HPA does not scale the agents")
    find(defaults, "PodDisruptionBudget", "-coordinator")
    find(defaults, "PodDisruptionBudget", "-agent")
    secret = find(defaults, "Secret", "-auth")
    if "admin admin-0123456789abcdef" not in secret["stringData"]["tokens"]:
        fail("the tokens file lacks the admin token")
    mounts = [v.get("secret", {}).get("secretName") for v in agent["spec"]["template"]["spec"]["volumes"]]
    if secret["metadata"]["name"] not in mounts:
        fail("the agents do not mount the cluster token")

    everything = merge(
        TOKENS,
        {
            "agent": {"autoscaling": {"enabled": False}, "replicas": 5, "browsers": False},
            "metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}},
            "otlpEndpoint": "http://collector:4317",
            "allowedTargets": ["*.staging.example", "10.0.0.0/8"],
            "behaviourRules": {"risk": {"high_from": 0.8}, "weights": {"device": 0.5}},
        },
    )
    objects = render(chart, everything)
    validate(objects)
    agent = find(objects, "Deployment", "-agent")
    if agent["spec"]["replicas"] != 5 or "--no-browsers" not in agent["spec"]["template"]["spec"]["containers"][0]["args"]:
        fail("agent replicas or --no-browsers not applied")
    if any(o["kind"] == "HorizontalPodAutoscaler" for o in objects):
        fail("an HPA despite autoscaling off")
    find(objects, "ServiceMonitor", "throng")
    config = find(objects, "ConfigMap", "throng")
    if config["data"].get("OTEL_EXPORTER_OTLP_ENDPOINT") != "http://collector:4317":
        fail("the OTLP endpoint is not passed on")
    # The detector's rules: one file, mounted as a directory (so updates
    # reach it) on coordinators and agents alike, named by the environment.
    rules = find(objects, "ConfigMap", "-behaviour")
    if "high_from: 0.8" not in rules["data"]["rules.yaml"]:
        fail(f"the behaviour rules are not in their ConfigMap: {rules['data']}")
    if config["data"].get("THRONG_BEHAVIOUR_RULES") != "/etc/throng/behaviour/rules.yaml":
        fail("the nodes are not told where the behaviour rules are")
    for deployment in ("-coordinator", "-agent"):
        pod = find(objects, "Deployment", deployment)["spec"]["template"]["spec"]
        mounts = pod["containers"][0].get("volumeMounts", [])
        if not any(m["mountPath"] == "/etc/throng/behaviour" and "subPath" not in m for m in mounts):
            fail(f"{deployment} does not mount the behaviour rules as a directory")
        if not any(v.get("configMap", {}).get("name") == rules["metadata"]["name"] for v in pod["volumes"]):
            fail(f"{deployment} has no volume of the behaviour rules")
    if any(o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith("-behaviour") for o in defaults):
        fail("a behaviour rules ConfigMap without rules")

    open_cluster = render(chart, {"auth": {"enabled": False}})
    validate(open_cluster)
    if any(o["kind"] == "Secret" for o in open_cluster):
        fail("a Secret without auth")
    print(f"helm check: {path} lints, renders {len(defaults)} objects by default and {len(objects)} with every option, all valid for Kubernetes {KUBE_VERSION}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "helm/throng")
