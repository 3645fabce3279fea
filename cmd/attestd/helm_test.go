package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestHelmRendered reads the manifests the Helm chart rendered
// (deploy/helm/check.sh sets ATTESTD_HELM_RENDERED to a directory of
// them; the test is skipped without it) and starts serve's configuration
// on each as the pod would: the files of the pod's Secret and ConfigMap
// volumes are laid out under a temporary root (Secret entries as
// "secret NAME/KEY", ConfigMap entries with the rendered data), the
// container's args are parsed by serve's flags, the --config file (the
// chains list) is applied, and the chains are built as serve builds them.
// Every file an arg or a chain names must be one the pod mounts. It logs
// one line per chain, which check.sh matches.
func TestHelmRendered(t *testing.T) {
	dir := os.Getenv("ATTESTD_HELM_RENDERED")
	if dir == "" {
		t.Skip("ATTESTD_HELM_RENDERED is not set (deploy/helm/check.sh sets it)")
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no rendered manifests in %s (%v)", dir, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { checkRenderedPod(t, f) })
	}
}

// k8sObject is the part of a rendered manifest the test reads.
type k8sObject struct {
	Kind     string
	Metadata struct{ Name string }
	Data     map[string]string // ConfigMap
	Spec     struct {
		Template struct{ Spec podSpec }
	}
}

type podSpec struct {
	Containers []podContainer
	Volumes    []struct {
		Name   string
		Secret *struct {
			SecretName string `yaml:"secretName"`
			Items      []volumeItem
		}
		ConfigMap *struct {
			Name  string
			Items []volumeItem
		} `yaml:"configMap"`
		Projected *struct {
			Sources []struct {
				Secret *struct {
					Name  string
					Items []volumeItem
				}
			}
		}
	}
}

type podContainer struct {
	Name string
	Args []string
	Env  []struct {
		Name      string
		Value     string
		ValueFrom *struct {
			SecretKeyRef *struct{ Name, Key string } `yaml:"secretKeyRef"`
		} `yaml:"valueFrom"`
	}
	VolumeMounts []struct {
		Name      string
		MountPath string `yaml:"mountPath"`
	} `yaml:"volumeMounts"`
}

type volumeItem struct{ Key, Path string }

func checkRenderedPod(t *testing.T, manifest string) {
	data, err := os.ReadFile(manifest)
	if err != nil {
		t.Fatal(err)
	}
	var pod *podSpec
	configMaps := map[string]map[string]string{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", manifest, err)
		}
		switch o.Kind {
		case "StatefulSet", "Deployment":
			if pod != nil {
				t.Fatal("two workloads")
			}
			pod = &o.Spec.Template.Spec
		case "ConfigMap":
			configMaps[o.Metadata.Name] = o.Data
		}
	}
	if pod == nil {
		t.Fatal("no StatefulSet or Deployment")
	}
	i := slices.IndexFunc(pod.Containers, func(c podContainer) bool { return c.Name == "attestd" })
	if i < 0 {
		t.Fatal("no attestd container")
	}
	c := pod.Containers[i]

	// The pod's files under root: Secret entries hold "secret NAME/KEY".
	root := t.TempDir()
	mounted := map[string]bool{}
	put := func(path, content string) {
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		mounted[path] = true
	}
	for _, m := range c.VolumeMounts {
		at := func(p string) string { return filepath.Join(m.MountPath, p) }
		for _, v := range pod.Volumes {
			if v.Name != m.Name {
				continue
			}
			switch {
			case v.Secret != nil:
				for _, it := range v.Secret.Items {
					put(at(it.Path), fmt.Sprintf("secret %s/%s\n", v.Secret.SecretName, it.Key))
				}
			case v.Projected != nil:
				for _, src := range v.Projected.Sources {
					if src.Secret == nil {
						continue
					}
					for _, it := range src.Secret.Items {
						if mounted[at(it.Path)] {
							t.Errorf("volume %s: %s projected twice", v.Name, it.Path)
						}
						put(at(it.Path), fmt.Sprintf("secret %s/%s\n", src.Secret.Name, it.Key))
					}
				}
			case v.ConfigMap != nil:
				cm, ok := configMaps[v.ConfigMap.Name]
				if !ok {
					t.Fatalf("volume %s: ConfigMap %s is not rendered", v.Name, v.ConfigMap.Name)
				}
				for _, it := range v.ConfigMap.Items {
					content, ok := cm[it.Key]
					if !ok {
						t.Fatalf("volume %s: ConfigMap %s has no %s", v.Name, v.ConfigMap.Name, it.Key)
					}
					// The file names the pod's paths: here, under root.
					put(at(it.Path), strings.ReplaceAll(content, "/etc/attestd/", root+"/etc/attestd/"))
				}
			}
		}
	}

	// The args as serve parses them, their absolute paths under root.
	if len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("args %q: want serve first", c.Args)
	}
	var args []string
	for _, a := range c.Args[1:] {
		if name, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(v, "/etc/attestd/") {
			if !mounted[v] {
				t.Errorf("%s names %s, which the pod does not mount", name, v)
			}
			a = name + "=" + filepath.Join(root, v)
		}
		args = append(args, a)
	}
	cmd, opts := newServeCmdOpts()
	if err := cmd.ParseFlags(args); err != nil {
		t.Fatalf("serve refuses the args: %v", err)
	}
	fs := cmd.Flags()
	if path := fs.Lookup("config").Value.String(); path != "" {
		if err := applyConfigFile(fs, path); err != nil {
			t.Fatalf("serve refuses the --config file: %v", err)
		}
	}
	chain := *opts.chain
	if chain.RPC == "" && len(opts.chains.specs) == 0 { // as serve: ATTESTD_CHAIN_RPC
		for _, e := range c.Env {
			if e.Name == "ATTESTD_CHAIN_RPC" {
				chain.RPC = e.Value
				if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
					chain.RPC = fmt.Sprintf("secret %s/%s", e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
				}
			}
		}
	}
	if opts.cfg.Dev {
		t.Fatal("--dev")
	}
	chains, err := serveChains(fs, false, chain, opts.chains, *opts.nDevChains)
	if err != nil {
		t.Fatalf("serve refuses the chains: %v", err)
	}
	rel := func(p string) string {
		if p == "" {
			return ""
		}
		r := strings.TrimPrefix(p, root)
		if !mounted[r] {
			t.Errorf("chain file %s is not mounted in the pod", r)
		}
		return r
	}
	for _, cc := range chains {
		if cc.RPC == "" {
			t.Errorf("chain %d: no endpoint", cc.Anchor.ChainID)
		}
		if len(opts.chains.specs) == 0 {
			// serve's RunE sets the rest of the single-chain shorthand
			// (--max-fee, --sink, --chain-password-file) itself.
			t.Logf("chain %d (single-chain flags) rpc=%q key-file=%s keystore=%s",
				cc.Anchor.ChainID, cc.RPC, rel(cc.KeyFile), rel(cc.Keystore))
			continue
		}
		t.Logf("chain %d name=%q rpc=%q key-file=%s keystore=%s password=%q confirmations=%d max-fee=%v sink=%s from-batch=%d",
			cc.Anchor.ChainID, cc.Name, cc.RPC, rel(cc.KeyFile), rel(cc.Keystore), cc.Password,
			cc.Anchor.Confirmations, cc.Anchor.MaxFeePerGas, cc.Anchor.Sink.Hex(), cc.Anchor.FirstBatch)
	}
}
