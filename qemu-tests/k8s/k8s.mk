# The REAL Kubernetes v1.20.2 bundle and its images, built from Debian's
# packages only (qemu-tests/k8s/README.md). Included from the Makefile; uses
# its B, CACHE, CC, CFLAGS and $(B)/mktestbundle. Slow when cold (the Go
# build, 10-15 minutes on 2 cores), seconds when warm (cached under CACHE).
#
#   make k8s-bundle     -> $(B)/k8s-1.20.2-bundle, $(B)/k8s-1.20.2-images
#   make k8s-check      -> the binaries and images checked on the host
#   make k8s-image      -> the debian-bookworm image built from them
#   make k8s-boot-cp    -> that image booted as a control plane (QEMU)
#   make k8s-cluster    -> a control plane and a worker from it: the real
#                          kubeadm init and join, read back with kubectl
#                          (QEMU; part of make test)

K8S_REAL_VERSION := v1.20.2
K8S_REAL_CNI_VERSION := v1.1.1
K8S_REAL_CRICTL_VERSION := v0.0.0
K8S_REAL_BUNDLE := $(B)/k8s-1.20.2-bundle
K8S_REAL_IMAGES := $(B)/k8s-1.20.2-images
K8S_REAL_OUT := $(OUT)/k8s-1.20.2
# Room for the kubelet's eviction thresholds (README.md). The kernel command
# line stays the profile's: the kubelet of v1.20 runs on Debian 12's cgroup v2.
K8S_REAL_DISK := 6G
K8S_REAL_IMAGE := $(K8S_REAL_OUT)/kubeseed-$(TEST_PROFILE)-$(ARCH).raw

# What the bundle's kubeadm is told (kubernetes.kubeadm, docs/profiles.md):
# the etcd it carries is Debian's 3.4.23, and it has no CoreDNS (Debian has
# none), so kubeadm init skips that phase.
K8S_REAL_ETCD_TAG := 3.4.23
K8S_REAL_SKIP_PHASES := [addon/coredns]
# The test probe (qemu-tests/k8s/probe/): only in this test image.
K8S_REAL_PROBE := qemu-tests/k8s/probe

.PHONY: k8s-bundle k8s-check k8s-image k8s-boot-cp k8s-cluster

# crictl is not in Debian: a stand-in answers what kubeadm v1.20 asks, through
# containerd's ctr (qemu-tests/k8s/README.md).
$(B)/k8s/crictl-standin: qemu-tests/k8s/crictl-standin.c qemu-tests/doubles/crictl-opts.h
	@mkdir -p $(dir $@)
	$(CC) $(DOUBLE_STATIC_CFLAGS) -DCRICTL_STANDIN_VERSION='"$(K8S_REAL_CRICTL_VERSION)"' -o $@ $<

k8s-bundle: deps-check $(B)/mktestbundle $(B)/k8s/crictl-standin
	qemu-tests/k8s/build-bundle.sh $(CACHE) $(B)/mktestbundle $(B)/k8s/crictl-standin \
		$(K8S_REAL_BUNDLE) $(K8S_REAL_IMAGES)

# On the host: the binaries' versions, the reflect2 reproducer, the images
# in a private containerd, the crictl stand-in.
k8s-check: k8s-bundle
	qemu-tests/k8s/check.sh $(K8S_REAL_BUNDLE) $(K8S_REAL_IMAGES)

# The test profile built from the bundle, as an air-gapped site would.
k8s-image: AGENT_PROFILE = $(TEST_PROFILE)
k8s-image: all $(AGENT) k8s-bundle
	$(B)/kubeseed build -p images/$(TEST_PROFILE).yaml --arch $(ARCH) -o $(K8S_REAL_OUT) --cache $(CACHE) \
		--agent $(AGENT) \
		--set kubernetes.version=$(K8S_REAL_VERSION) \
		--set kubernetes.source=dir:$(realpath $(K8S_REAL_BUNDLE)) \
		--set kubernetes.crictl.version=$(K8S_REAL_CRICTL_VERSION) \
		--set kubernetes.cni.version=$(K8S_REAL_CNI_VERSION) \
		--set images.source=dir:$(realpath $(K8S_REAL_IMAGES)) \
		--set kubernetes.kubeadm.etcd-image-tag=$(K8S_REAL_ETCD_TAG) \
		--set 'kubernetes.kubeadm.init-skip-phases=$(K8S_REAL_SKIP_PHASES)' \
		--set disk.size=$(K8S_REAL_DISK) \
		--extra-overlay $(K8S_REAL_PROBE) \
		$(if $(MIRROR),--set mirrors.main=$(MIRROR))

# One control plane from that image: the real kubeadm init run by the agent.
k8s-boot-cp: k8s-image
	qemu-tests/k8s/boot-cp.sh $(K8S_REAL_IMAGE) $(ARCH)

# Two nodes from that image, seeds from kubeseed plan: the real kubeadm init
# and join, read back with kubectl by the image's test probe.
k8s-cluster: k8s-image
	KUBESEED=$(CURDIR)/$(B)/kubeseed qemu-tests/k8s/cluster.sh $(K8S_REAL_IMAGE) $(ARCH)
