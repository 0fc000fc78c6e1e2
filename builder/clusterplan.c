/* SPDX-License-Identifier: MIT */
#include "clusterplan.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "fsutil.h"
#include "isovol.h"
#include "log.h"
#include "macro.h"
#include "netconfig.h"
#include "nodeconfig.h"
#include "seed.h"
#include "strv.h"
#include "yamlemit.h"
#include "yamltree.h"

/* ---- the identity ------------------------------------------------------------ */

void cluster_identity_done(struct cluster_identity *id) {
        if (!id)
                return;
        free(id->cluster);
        pki_pair_done(&id->ca);
        explicit_bzero(id, sizeof *id);
}

int cluster_identity_new(const char *cluster, const struct pki_random *rnd, long long now,
                         struct cluster_identity *ret, char **ret_error) {
        _cleanup_(cluster_identity_done) struct cluster_identity id = {.created = now};
        id.cluster = strdup(cluster);
        if (!id.cluster)
                return -ENOMEM;
        int r = pki_ca_new(rnd, now, &id.ca, ret_error);
        if (r < 0)
                return r;
        if ((r = pki_token_new(rnd, id.token)) < 0)
                return replace_error(ret_error, r, "cannot draw a bootstrap token: %s", strerror(-r));
        if ((r = pki_certificate_key_new(rnd, id.certificate_key)) < 0)
                return replace_error(ret_error, r, "cannot draw a certificate key: %s", strerror(-r));
        r = cert_spki_hash_pem(id.ca.cert_pem, strlen(id.ca.cert_pem), id.ca_hash, ret_error);
        if (r < 0)
                return r;
        *ret = id;
        id = (struct cluster_identity){};
        return 0;
}

/* A YAML stream whose one document is a mapping. */
static int start_yaml(struct yemit **ret) {
        int r = yemit_new(ret);
        if (r < 0)
                return r;
        yemit_document_start_implicit(*ret);
        yemit_map_start(*ret);
        return 0;
}

/* Ends the mapping and the stream; *ret is `prefix` and the text. */
static int finish_yaml(struct yemit *e, const char *prefix, char **ret, size_t *ret_size) {
        yemit_map_end(e);
        yemit_document_end(e);
        _cleanup_erase_ char *body = NULL;
        size_t size = 0;
        int r = yemit_finish(e, &body, &size);
        if (r < 0)
                return r;
        char *text = strdupf("%s%s", prefix, body);
        if (!text)
                return -ENOMEM;
        *ret_size = strlen(text);
        *ret = text;
        return 0;
}

int cluster_identity_render(const struct cluster_identity *id, char **ret, size_t *ret_size) {
        _cleanup_yemit_ struct yemit *e = NULL;
        int r = start_yaml(&e);
        if (r < 0)
                return r;
        char created[32];
        snprintf(created, sizeof created, "%lld", id->created);
        yemit_kv(e, "cluster", id->cluster);
        yemit_kv_raw(e, "created", created);
        yemit_kv(e, "ca-cert-hash", id->ca_hash);
        yemit_kv(e, "token", id->token);
        yemit_kv(e, "certificate-key", id->certificate_key);
        yemit_str(e, "ca-cert");
        yemit_block(e, id->ca.cert_pem);
        yemit_str(e, "ca-key");
        yemit_block(e, id->ca.key_pem);
        _cleanup_free_ char *head =
                strdupf("# kubeseed plan: the identity of cluster %s (docs/cluster-plan.md).\n"
                        "# SECRET: whoever holds this file can join nodes to the cluster and\n"
                        "# administer it. Keep it (mode 0600) to add nodes later.\n",
                        id->cluster);
        return head ? finish_yaml(e, head, ret, ret_size) : -ENOMEM;
}

int cluster_identity_parse(const char *filename, const char *data, size_t size, long long now,
                           struct cluster_identity *ret, char **ret_error) {
        static const char *const keys[] = {"cluster",         "created", "ca-cert-hash", "token",
                                           "certificate-key", "ca-cert", "ca-key",       NULL};
        if (size > CLUSTERPLAN_SECRETS_MAX)
                return replace_error(ret_error, -EBADMSG, "%s: expected at most %u bytes", filename,
                                     CLUSTERPLAN_SECRETS_MAX);
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = CLUSTERPLAN_SECRETS_MAX;
        limits.max_depth = 4;
        _cleanup_ynode_erase_ struct ynode *root = NULL;
        int r = yaml_parse_named(filename, data, size, &limits, &root, ret_error);
        if (r < 0)
                return r;
        if (root->kind != YNODE_MAPPING)
                return yaml_error(ret_error, filename, root, NULL,
                                  "expected a mapping (cluster, token, ca-cert, ...)");
        if ((r = ynode_check_keys(root, keys, filename, "", ret_error)) < 0)
                return r;
        const char *v[ELEMENTSOF(keys) - 1] = {NULL};
        for (size_t i = 0; keys[i]; i++) {
                v[i] = ynode_get_str(root, keys[i]);
                if (!v[i] || !*v[i])
                        return replace_error(ret_error, -EBADMSG,
                                             "%s: %s: expected a string (the key is missing)", filename,
                                             keys[i]);
        }
        const char *cluster = v[0], *token = v[3], *cert_key = v[4], *ca_cert = v[5], *ca_key = v[6];
        uint64_t created_v = 0;
        if (!ynode_parse_uint(ynode_get(root, "created"), INT64_MAX, &created_v))
                return replace_error(ret_error, -EBADMSG, "%s: created: expected seconds since the epoch",
                                     filename);
        if (!nodeconfig_token_valid(token))
                return replace_error(ret_error, -EBADMSG,
                                     "%s: token: expected 6 lowercase letters or digits, a dot, and 16 more",
                                     filename);
        if (!nodeconfig_certificate_key_valid(cert_key))
                return replace_error(ret_error, -EBADMSG,
                                     "%s: certificate-key: expected 64 hexadecimal digits", filename);
        _cleanup_free_ char *err = NULL;
        r = cert_check_ca_pair(ca_cert, strlen(ca_cert), ca_key, strlen(ca_key), now, &err);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return replace_error(ret_error, -EBADMSG,
                                     "%s: ca-cert, ca-key: expected the cluster CA and its key: %s",
                                     filename, err ? err : "they do not parse");

        _cleanup_(cluster_identity_done) struct cluster_identity id = {.created = (long long) created_v};
        r = cert_spki_hash_pem(ca_cert, strlen(ca_cert), id.ca_hash, &err);
        if (r < 0)
                return r == -ENOMEM ? r
                                    : replace_error(ret_error, -EBADMSG, "%s: ca-cert: %s", filename, err);
        if (!streq(id.ca_hash, v[2]))
                return replace_error(
                        ret_error, -EBADMSG,
                        "%s: ca-cert-hash: expected the hash of ca-cert, %s (the file was edited?)",
                        filename, id.ca_hash);
        id.cluster = strdup(cluster);
        id.ca.cert_pem = strdup(ca_cert);
        id.ca.key_pem = strdup(ca_key);
        if (!id.cluster || !id.ca.cert_pem || !id.ca.key_pem)
                return -ENOMEM;
        memcpy(id.token, token, PKI_TOKEN_LEN + 1);
        for (size_t i = 0; i <= PKI_CERT_KEY_LEN; i++)
                id.certificate_key[i] =
                        (cert_key[i] >= 'A' && cert_key[i] <= 'F') ? (char) (cert_key[i] + 32) : cert_key[i];
        *ret = id;
        id = (struct cluster_identity){};
        return 0;
}

/* ---- seeds ------------------------------------------------------------------ */

void seed_files_done(struct seed_files *f) {
        if (!f)
                return;
        free(f->meta_data);
        if (f->user_data) {
                explicit_bzero(f->user_data, f->user_data_size);
                free(f->user_data);
        }
        free(f->network_config);
        *f = (struct seed_files){};
}

char *clusterplan_instance_id(const struct cluster *c, const struct cluster_node *n,
                              const struct cluster_identity *id) {
        /* "sha256:" then the hash. */
        return strdupf("%s-%s-%.8s", c->name, n->name, id->ca_hash + 7);
}

static void emit_list(struct yemit *e, const char *key, char *const *items) {
        if (!items || !*items)
                return;
        yemit_str(e, key);
        yemit_seq_start(e);
        for (char *const *i = items; *i; i++)
                yemit_str(e, *i);
        yemit_seq_end(e);
}

/* "10.0.0.10/24" -> "10.0.0.10". */
static int address_ip(const char *address, char out[INET6_ADDRSTRLEN]) {
        size_t n = strcspn(address, "/");
        if (n >= INET6_ADDRSTRLEN)
                return -EINVAL;
        memcpy(out, address, n);
        out[n] = '\0';
        return 0;
}

static int render_meta_data(const struct cluster *c, const struct cluster_node *n,
                            const struct cluster_identity *id, struct seed_files *f) {
        _cleanup_free_ char *iid = clusterplan_instance_id(c, n, id);
        if (!iid)
                return -ENOMEM;
        _cleanup_yemit_ struct yemit *e = NULL;
        int r = start_yaml(&e);
        if (r < 0)
                return r;
        yemit_kv(e, "instance-id", iid);
        yemit_kv(e, "local-hostname", n->name);
        return finish_yaml(e, "", &f->meta_data, &f->meta_data_size);
}

static int render_user_data(const struct cluster *c, const struct cluster_node *n,
                            const struct cluster_identity *id, struct seed_files *f) {
        _cleanup_yemit_ struct yemit *e = NULL;
        int r = start_yaml(&e);
        if (r < 0)
                return r;
        bool init = n->role == NODE_ROLE_CONTROL_PLANE;
        bool has_joiners = cluster_count_role(c, NODE_ROLE_CONTROL_PLANE_JOIN) > 0;

        yemit_str(e, "kubeseed");
        yemit_map_start(e);
        yemit_kv(e, "role", node_role_to_string(n->role));

        yemit_str(e, "cluster");
        yemit_map_start(e);
        yemit_kv(e, "endpoint", c->endpoint);
        yemit_kv(e, "token", id->token);
        if (init) {
                yemit_str(e, "ca-cert");
                yemit_block(e, id->ca.cert_pem);
                yemit_str(e, "ca-key");
                yemit_block(e, id->ca.key_pem);
                /* init uploads the control-plane certificates, encrypted with
                 * it, only when another control plane will join. */
                if (has_joiners)
                        yemit_kv(e, "certificate-key", id->certificate_key);
                if (c->pod_subnet)
                        yemit_kv(e, "pod-subnet", c->pod_subnet);
                if (c->service_subnet)
                        yemit_kv(e, "service-subnet", c->service_subnet);
                if (c->kubernetes_version)
                        yemit_kv(e, "kubernetes-version", c->kubernetes_version);
        } else {
                yemit_kv(e, "ca-cert-hash", id->ca_hash);
                /* Public: the CA verifies the API server's own certificate
                 * in the agent's CA-pinned wait (kube-apiserver does not
                 * send the CA). Never the key. */
                yemit_str(e, "ca-cert");
                yemit_block(e, id->ca.cert_pem);
                if (n->role == NODE_ROLE_CONTROL_PLANE_JOIN)
                        yemit_kv(e, "certificate-key", id->certificate_key);
        }
        yemit_map_end(e);

        if (n->address || n->labels || n->taints || n->disks) {
                yemit_str(e, "node");
                yemit_map_start(e);
                char ip[INET6_ADDRSTRLEN];
                if (n->address && address_ip(n->address, ip) >= 0)
                        yemit_kv(e, "ip", ip);
                if (n->labels) {
                        yemit_str(e, "labels");
                        yemit_map_start(e);
                        for (char **l = n->labels; *l; l++) {
                                _cleanup_free_ char *k = strndup(*l, strcspn(*l, "="));
                                if (!k)
                                        return -ENOMEM;
                                yemit_kv(e, k, *l + strlen(k) + 1);
                        }
                        yemit_map_end(e);
                }
                emit_list(e, "taints", n->taints);
                emit_list(e, "disks", n->disks);
                yemit_map_end(e);
        }
        /* Every node: the control plane applies them, and every node's pod
         * network depends on whether they hold a CNI (podnet.h). */
        emit_list(e, "addons", c->addons);
        if (init) {
                if (c->schedule_workloads_set)
                        yemit_kv_raw(e, "schedule-workloads", c->schedule_workloads ? "true" : "false");
                char workers[32];
                snprintf(workers, sizeof workers, "%zu", cluster_count_role(c, NODE_ROLE_WORKER));
                yemit_kv_raw(e, "workers", workers);
        }
        yemit_map_end(e);
        return finish_yaml(e, "#cloud-config\n", &f->user_data, &f->user_data_size);
}

static int render_network_config(const struct cluster_node *n, struct seed_files *f) {
        _cleanup_yemit_ struct yemit *e = NULL;
        int r = start_yaml(&e);
        if (r < 0)
                return r;
        yemit_kv_raw(e, "version", "2");
        yemit_str(e, "ethernets");
        yemit_map_start(e);
        yemit_str(e, "primary");
        yemit_map_start(e);
        yemit_str(e, "match");
        yemit_map_start(e);
        if (n->mac)
                yemit_kv(e, "macaddress", n->mac);
        if (n->interface || !n->mac)
                yemit_kv(e, "name", n->interface ? n->interface : "e*");
        yemit_map_end(e);
        if (n->dhcp)
                yemit_kv_raw(e, "dhcp4", "true");
        else {
                yemit_kv_raw(e, "dhcp4", "false");
                emit_list(e, "addresses", (char *[]){n->address, NULL});
                if (n->gateway)
                        yemit_kv(e, strchr(n->gateway, ':') ? "gateway6" : "gateway4", n->gateway);
        }
        if (n->dns) {
                yemit_str(e, "nameservers");
                yemit_map_start(e);
                emit_list(e, "addresses", n->dns);
                yemit_map_end(e);
        }
        yemit_map_end(e);
        yemit_map_end(e);
        return finish_yaml(e, "", &f->network_config, &f->network_config_size);
}

int clusterplan_render_node(const struct cluster *c, const struct cluster_node *n,
                            const struct cluster_identity *id, struct seed_files *ret) {
        _cleanup_(seed_files_done) struct seed_files f = {};
        int r = render_meta_data(c, n, id, &f);
        if (r >= 0)
                r = render_user_data(c, n, id, &f);
        if (r >= 0)
                r = render_network_config(n, &f);
        if (r < 0)
                return r;
        *ret = f;
        f = (struct seed_files){};
        return 0;
}

int clusterplan_render_kubeconfig(const struct cluster *c, const char *ca_cert_pem, const char *user,
                                  const struct pki_pair *client, char **ret, size_t *ret_size) {
        _cleanup_free_ char *ca = pki_base64(ca_cert_pem, strlen(ca_cert_pem));
        _cleanup_free_ char *cert = pki_base64(client->cert_pem, strlen(client->cert_pem));
        _cleanup_erase_ char *key = pki_base64(client->key_pem, strlen(client->key_pem));
        _cleanup_free_ char *server = strdupf("https://%s", c->endpoint);
        _cleanup_free_ char *context = strdupf("%s@%s", user, c->name);
        if (!ca || !cert || !key || !server || !context)
                return -ENOMEM;
        _cleanup_yemit_ struct yemit *e = NULL;
        int r = start_yaml(&e);
        if (r < 0)
                return r;
        yemit_kv(e, "apiVersion", "v1");
        yemit_kv(e, "kind", "Config");
        yemit_str(e, "clusters");
        yemit_seq_start(e);
        yemit_map_start(e);
        yemit_str(e, "cluster");
        yemit_map_start(e);
        yemit_kv(e, "certificate-authority-data", ca);
        yemit_kv(e, "server", server);
        yemit_map_end(e);
        yemit_kv(e, "name", c->name);
        yemit_map_end(e);
        yemit_seq_end(e);
        yemit_str(e, "contexts");
        yemit_seq_start(e);
        yemit_map_start(e);
        yemit_str(e, "context");
        yemit_map_start(e);
        yemit_kv(e, "cluster", c->name);
        yemit_kv(e, "user", user);
        yemit_map_end(e);
        yemit_kv(e, "name", context);
        yemit_map_end(e);
        yemit_seq_end(e);
        yemit_kv(e, "current-context", context);
        yemit_str(e, "users");
        yemit_seq_start(e);
        yemit_map_start(e);
        yemit_kv(e, "name", user);
        yemit_str(e, "user");
        yemit_map_start(e);
        yemit_kv(e, "client-certificate-data", cert);
        yemit_kv(e, "client-key-data", key);
        yemit_map_end(e);
        yemit_map_end(e);
        yemit_seq_end(e);
        return finish_yaml(e, "", ret, ret_size);
}

/* ---- checks with the agent's own parsers -------------------------------------- */

/* Would the agent accept this seed? Each file parsed as the agent parses
 * it; the message names `what` and the file. */
static int check_seed(const char *what, const struct seed_files *f, long long now, char **ret_error) {
        _cleanup_(seed_meta_done) struct seed_meta m = {};
        _cleanup_free_ char *err = NULL;
        int r = seed_parse_meta_data(f->meta_data, f->meta_data_size, &m, &err);
        if (r < 0)
                return r == -ENOMEM
                               ? r
                               : replace_error(ret_error, r, "%s: meta-data:%s%s", what,
                                               err && *err >= '0' && *err <= '9' ? "" : " ", err ? err : "");
        struct nodeconfig_input in = {
                .source = what,
                .instance_id = m.instance_id,
                .local_hostname = m.local_hostname,
                .user_data = f->user_data,
                .user_data_size = f->user_data_size,
                .now = now,
        };
        _cleanup_(nodeconfig_done) struct nodeconfig cfg = {};
        r = nodeconfig_parse(&in, &cfg, &err);
        if (r < 0)
                return r == -ENOMEM
                               ? r
                               : replace_error(ret_error, r, "%s", err ? err : "user-data is not valid");
        if (f->network_config) {
                _cleanup_(netconfig_done) struct netconfig n = {};
                r = netconfig_render_networkd(f->network_config, f->network_config_size, &n, &err);
                if (r < 0)
                        return r == -ENOMEM ? r
                                            : replace_error(ret_error, r, "%s: %s", what, err ? err : "");
        }
        return 0;
}

static int seed_volume(const char *path, const struct seed_files *f, long long now, char **ret_error) {
        struct isovol_file files[3] = {
                {"meta-data", f->meta_data, f->meta_data_size},
                {"user-data", f->user_data, f->user_data_size},
                {"network-config", f->network_config, f->network_config_size},
        };
        return isovol_write(path, 0600, CLUSTERPLAN_VOLUME_ID, files, f->network_config ? 3 : 2, now,
                            ret_error);
}

/* ---- kubeseed plan ------------------------------------------------------------ */

static int write_in(const char *dir, const char *name, const char *data, size_t size, mode_t mode) {
        _cleanup_free_ char *rel = strdupf("/%s", name);
        int r = rel ? write_file_atomic_root(dir, rel, data, size, mode) : -ENOMEM;
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s/%s': %m", dir, name);
        return 0;
}

/* The identity: read back, or new. */
static int get_identity(const struct clusterplan_options *o, const struct cluster *c, long long now,
                        struct cluster_identity *ret, bool *ret_new) {
        _cleanup_free_ char *secrets = strdupf("%s/%s", o->out_dir, CLUSTERPLAN_SECRETS_FILE);
        _cleanup_free_ char *admin = strdupf("%s/%s", o->out_dir, CLUSTERPLAN_ADMIN_CONF);
        if (!secrets || !admin)
                return log_oom();
        _cleanup_erase_ char *data = NULL;
        size_t size = 0;
        int r = o->rotate ? -ENOENT : read_regular_file(secrets, CLUSTERPLAN_SECRETS_MAX, &data, &size);
        if (r >= 0) {
                _cleanup_free_ char *err = NULL;
                r = cluster_identity_parse(secrets, data, size, now, ret, &err);
                if (r < 0)
                        return log_error_errno(r, "%s",
                                               err ? err : "Failed to parse the cluster secrets: %m");
                if (!streq(ret->cluster, c->name)) {
                        log_error("%s belongs to cluster '%s', %s describes '%s': refusing to mix two "
                                  "clusters "
                                  "(another -o directory, or --rotate to replace that identity)",
                                  secrets, ret->cluster, o->cluster_path, c->name);
                        cluster_identity_done(ret);
                        return -EEXIST;
                }
                log_info("Keeping the identity of cluster '%s' from %s (CA %s)", c->name, secrets,
                         ret->ca_hash);
                *ret_new = false;
                return 0;
        }
        if (r != -ENOENT)
                return log_error_errno(r, "Failed to read '%s': %m", secrets);
        if (!o->rotate && access(admin, F_OK) == 0) {
                log_error("%s exists but %s does not: the seeds made with it hold a CA and token a new run "
                          "would not know. Refusing to make a new identity (--rotate does, and every node "
                          "needs its new seed)",
                          admin, secrets);
                return -EEXIST;
        }
        _cleanup_free_ char *err = NULL;
        r = cluster_identity_new(c->name, o->rnd, now, ret, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to make the cluster's identity: %s",
                                       err ? err : strerror(-r));
        log_info(
                "New identity for cluster '%s': CA %s (RSA %d, %d days), bootstrap token, certificate key%s",
                c->name, ret->ca_hash, PKI_RSA_BITS, PKI_CA_DAYS, o->rotate ? " (--rotate)" : "");
        *ret_new = true;
        return 0;
}

static int plan_node(const struct clusterplan_options *o, const struct cluster *c,
                     const struct cluster_node *n, const struct cluster_identity *id, long long now) {
        _cleanup_(seed_files_done) struct seed_files f = {};
        int r = clusterplan_render_node(c, n, id, &f);
        if (r < 0)
                return log_error_errno(r, "Failed to render the seed of node '%s': %m", n->name);
        _cleanup_free_ char *what = strdupf("kubeseed plan: node %s", n->name);
        _cleanup_free_ char *err = NULL;
        if (!what)
                return log_oom();
        r = check_seed(what, &f, now, &err);
        if (r < 0)
                return log_error_errno(r, "The agent would refuse this seed (a bug in kubeseed plan): %s",
                                       err ? err : strerror(-r));

        _cleanup_free_ char *dir = strdupf("%s/%s", o->out_dir, n->name);
        _cleanup_free_ char *img = strdupf("%s/%s.img", o->out_dir, n->name);
        if (!dir || !img)
                return log_oom();
        r = mkdir_p(dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", dir);
        if ((r = write_in(dir, "meta-data", f.meta_data, f.meta_data_size, 0644)) < 0 ||
            (r = write_in(dir, "user-data", f.user_data, f.user_data_size, 0600)) < 0 ||
            (r = write_in(dir, "network-config", f.network_config, f.network_config_size, 0644)) < 0)
                return r;
        r = seed_volume(img, &f, now, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to write the seed volume of node '%s': %s", n->name,
                                       err ? err : strerror(-r));
        log_info("Node %s (%s): %s/, %s (ISO 9660, label %s)", n->name, node_role_to_string(n->role), dir,
                 img, CLUSTERPLAN_VOLUME_ID);
        return 0;
}

int clusterplan_run(const struct clusterplan_options *o) {
        long long now = o->now ? o->now : (long long) time(NULL);
        _cleanup_cluster_ struct cluster *c = NULL;
        _cleanup_free_ char *err = NULL;
        int r = cluster_load(o->cluster_path, &c, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "Failed to load the cluster file: %m");

        r = mkdir_p(o->out_dir, 0700);
        if (r < 0)
                return log_error_errno(r, "Failed to create '%s': %m", o->out_dir);
        _cleanup_(cluster_identity_done) struct cluster_identity id = {};
        bool is_new = false;
        r = get_identity(o, c, now, &id, &is_new);
        if (r < 0)
                return r;
        if (is_new) {
                _cleanup_erase_ char *text = NULL;
                size_t size = 0;
                r = cluster_identity_render(&id, &text, &size);
                if (r < 0)
                        return log_error_errno(r, "Failed to render the cluster secrets: %m");
                if ((r = write_in(o->out_dir, CLUSTERPLAN_SECRETS_FILE, text, size, 0600)) < 0)
                        return r;
        }

        for (size_t i = 0; i < c->n_nodes; i++)
                if ((r = plan_node(o, c, &c->nodes[i], &id, now)) < 0)
                        return r;

        _cleanup_free_ char *admin = strdupf("%s/%s", o->out_dir, CLUSTERPLAN_ADMIN_CONF);
        if (!admin)
                return log_oom();
        if (is_new || access(admin, F_OK) < 0) {
                _cleanup_(pki_pair_done) struct pki_pair client = {};
                r = pki_client_cert_new(&id.ca, "kubernetes-admin", "system:masters", o->rnd, now, &client,
                                        &err);
                if (r < 0)
                        return log_error_errno(r, "Failed to make the admin certificate: %s",
                                               err ? err : strerror(-r));
                _cleanup_erase_ char *text = NULL;
                size_t size = 0;
                r = clusterplan_render_kubeconfig(c, id.ca.cert_pem, "kubernetes-admin", &client, &text,
                                                  &size);
                if (r < 0)
                        return log_error_errno(r, "Failed to render %s: %m", admin);
                if ((r = write_in(o->out_dir, CLUSTERPLAN_ADMIN_CONF, text, size, 0600)) < 0)
                        return r;
                log_info("%s: kubernetes-admin (O=system:masters), valid %d days, server https://%s", admin,
                         PKI_CLIENT_DAYS, c->endpoint);
        }
        log_info("Planned cluster '%s': %zu node%s in %s", c->name, c->n_nodes, c->n_nodes == 1 ? "" : "s",
                 o->out_dir);
        return 0;
}

/* ---- kubeseed seed ------------------------------------------------------------ */

static int seed_from_yaml(const char *path, struct seed_files *ret) {
        static const char *const keys[] = {"meta-data", "user-data", "network-config", NULL};
        _cleanup_erase_ char *data = NULL;
        size_t size = 0;
        int r = read_regular_file(path, SEED_USER_DATA_MAX + SEED_META_DATA_MAX + SEED_NETWORK_CONFIG_MAX,
                                  &data, &size);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", path);
        struct yaml_limits limits = yaml_default_limits;
        limits.max_input = size + 1;
        _cleanup_ynode_erase_ struct ynode *root = NULL;
        _cleanup_free_ char *err = NULL;
        if ((r = yaml_parse_named(path, data, size, &limits, &root, &err)) < 0 ||
            (root->kind != YNODE_MAPPING &&
             (r = yaml_error(&err, path, root, NULL,
                             "expected a mapping (meta-data, user-data, network-config)")) < 0) ||
            (r = ynode_check_keys(root, keys, path, "", &err)) < 0)
                return log_error_errno(r, "%s", err ? err : "Failed to parse the node file: %m");
        for (size_t i = 0; i < root->n_items; i++)
                if (root->items[i]->kind != YNODE_SCALAR) {
                        r = yaml_error(&err, path, root->items[i], root->keys[i],
                                       "expected the file's text (a string, e.g. a | block)");
                        return log_error_errno(r, "%s", err ? err : "Failed to parse the node file: %m");
                }
        const char *md = ynode_get_str(root, "meta-data"), *ud = ynode_get_str(root, "user-data"),
                   *nc = ynode_get_str(root, "network-config");
        if (!md || !ud)
                return log_error_errno(-EBADMSG,
                                       "%s: meta-data, user-data: expected both (a key is missing)", path);
        struct seed_files f = {
                .meta_data = strdup(md),
                .user_data = strdup(ud),
                .network_config = nc ? strdup(nc) : NULL,
                .meta_data_size = strlen(md),
                .user_data_size = strlen(ud),
                .network_config_size = nc ? strlen(nc) : 0,
        };
        *ret = f;
        if (!f.meta_data || !f.user_data || (nc && !f.network_config))
                return log_oom();
        return 0;
}

static int seed_from_dir(const char *dir, struct seed_files *ret) {
        _cleanup_(seed_done) struct seed s = {};
        _cleanup_free_ char *err = NULL, *source = strdupf("directory %s", dir);
        if (!source)
                return log_oom();
        int r = seed_read_dir(dir, source, &s, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "Failed to read the seed directory: %m");
        /* The meta-data as written (seed_read_dir parsed it); read again. */
        _cleanup_free_ char *mpath = strdupf("%s/meta-data", dir);
        if (!mpath)
                return log_oom();
        char *md = NULL;
        size_t md_size = 0;
        r = read_regular_file(mpath, SEED_META_DATA_MAX, &md, &md_size);
        if (r < 0)
                return log_error_errno(r, "Failed to read '%s': %m", mpath);
        char *ud = s.user_data_text, *nc = s.network_config;
        s.user_data_text = s.network_config = NULL;
        *ret = (struct seed_files){
                .meta_data = md,
                .meta_data_size = md_size,
                .user_data = ud,
                .user_data_size = s.user_data_size,
                .network_config = nc,
                .network_config_size = s.network_config_size,
        };
        if (!ret->user_data)
                return log_error_errno(-EBADMSG, "%s: no user-data", source);
        return 0;
}

int clusterplan_seed_run(const char *input, const char *out_img, long long now) {
        if (!now)
                now = (long long) time(NULL);
        struct stat st;
        if (stat(input, &st) < 0)
                return log_error_errno(negative_errno(), "Failed to read '%s': %m", input);
        _cleanup_(seed_files_done) struct seed_files f = {};
        int r = S_ISDIR(st.st_mode) ? seed_from_dir(input, &f) : seed_from_yaml(input, &f);
        if (r < 0)
                return r;
        _cleanup_free_ char *err = NULL;
        r = check_seed(input, &f, now, &err);
        if (r < 0)
                return log_error_errno(r, "%s", err ? err : "The seed is not valid: %m");
        r = seed_volume(out_img, &f, now, &err);
        if (r < 0)
                return log_error_errno(r, "Failed to write '%s': %s", out_img, err ? err : strerror(-r));
        log_info("%s: NoCloud seed volume (ISO 9660, label %s) with meta-data, user-data%s", out_img,
                 CLUSTERPLAN_VOLUME_ID, f.network_config ? ", network-config" : "");
        return 0;
}
