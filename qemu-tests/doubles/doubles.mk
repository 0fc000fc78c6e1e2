# TEST doubles for the QEMU scenarios (qemu-tests/doubles/README.md): an
# air-gapped Kubernetes bundle (kubernetes.source: dir:$(B)/test-bundle) and
# the images kubeadm needs (images.source: dir:$(B)/test-images). Never in a
# user's image. Included from the Makefile; uses its B, CC, CPPFLAGS, CFLAGS,
# PKG_CFLAGS, PKG_LIBS, $(B)/libkubeseed.a and $(B)/kubeadm-double.
#
#   make test-bundle test-images
#
# The bundle and images are for the build host's architecture (the helpers
# are built -static for it). Timestamps are fixed (TEST_SOURCE_DATE_EPOCH),
# so the same inputs give the same bytes.

TEST_K8S_VERSION ?= v1.31.1
TEST_CRICTL_VERSION ?= $(TEST_K8S_VERSION)
TEST_CNI_VERSION ?= v1.1.1
# Debian's containernetworking-plugins (scripts/install-deps.sh): real plugins,
# version 1.1.1 in bookworm.
TEST_CNI_DIR ?= /usr/lib/cni
TEST_SOURCE_DATE_EPOCH ?= 0
TEST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
# lib/arch's Kubernetes/OCI names, for the file names make has to know.
TEST_K8S_ARCH := $(patsubst x86_64,amd64,$(patsubst aarch64,arm64,$(TEST_ARCH)))

# The test add-on catalogue (qemu-tests/doubles/addons/): its manifests are
# served from loopback on this port while the test image is built, so the
# builder downloads them and checks their sha256 as it does upstream's.
TEST_ADDONS_PORT ?= 18471
TEST_ADDONS := $(B)/test-addons
# Every image the test add-on manifests name: the test archive carries them
# (pause under these names too); a missing one fails the build, because the
# builder preloads every image the shipped add-ons name.
TEST_ADDON_IMAGES := docker.io/flannel/flannel:v0.26.1 docker.io/flannel/flannel-cni-plugin:v1.5.1-flannel2 \
	docker.io/rancher/local-path-provisioner:v0.0.30 docker.io/kubernetesui/dashboard:v2.7.0 \
	docker.io/kubernetesui/metrics-scraper:v1.0.8

TEST_BUNDLE := $(B)/test-bundle
TEST_IMAGES := $(B)/test-images
TEST_IMAGES_ARCHIVE := $(TEST_IMAGES)/kubeadm-$(TEST_K8S_VERSION).tar

.PHONY: test-bundle test-images test-addons

# Static, libc only: they run in the guest image and in a container's empty
# rootfs. -s: no debug info, so no build paths in the bytes.
DOUBLE_STATIC_CFLAGS = $(filter-out -g,$(CFLAGS)) -static -s

$(B)/pause: qemu-tests/doubles/pause.c
	@mkdir -p $(dir $@)
	$(CC) $(DOUBLE_STATIC_CFLAGS) -o $@ $<
$(B)/kubelet-double: qemu-tests/doubles/kubelet-double.c
	@mkdir -p $(dir $@)
	$(CC) $(DOUBLE_STATIC_CFLAGS) -DKUBELET_DOUBLE_VERSION='"$(TEST_K8S_VERSION)"' -o $@ $<
$(B)/crictl-double: qemu-tests/doubles/crictl-double.c qemu-tests/doubles/crictl-opts.h
	@mkdir -p $(dir $@)
	$(CC) $(DOUBLE_STATIC_CFLAGS) -DCRICTL_DOUBLE_VERSION='"$(TEST_CRICTL_VERSION)"' -o $@ $<
$(B)/mktestbundle: qemu-tests/doubles/mktestbundle.c $(B)/libkubeseed.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(B)/libkubeseed.a $(PKG_LIBS)

# SHA256SUMS is written last: its presence means the bundle is complete. The
# directory is emptied first so that no file of an earlier version lingers.
$(TEST_BUNDLE)/SHA256SUMS: $(B)/mktestbundle $(B)/kubeadm-double $(B)/kubelet-double $(B)/crictl-double
	rm -rf $(TEST_BUNDLE)
	SOURCE_DATE_EPOCH=$(TEST_SOURCE_DATE_EPOCH) $(B)/mktestbundle bundle \
		--version $(TEST_K8S_VERSION) --arch $(TEST_K8S_ARCH) \
		--crictl-version $(TEST_CRICTL_VERSION) --cni-version $(TEST_CNI_VERSION) \
		--kubeadm $(B)/kubeadm-double --kubelet $(B)/kubelet-double --crictl $(B)/crictl-double \
		--cni-dir $(TEST_CNI_DIR) --out $(TEST_BUNDLE)
test-bundle: $(TEST_BUNDLE)/SHA256SUMS

$(TEST_IMAGES_ARCHIVE): $(B)/mktestbundle $(B)/pause
	SOURCE_DATE_EPOCH=$(TEST_SOURCE_DATE_EPOCH) $(B)/mktestbundle images \
		--version $(TEST_K8S_VERSION) --arch $(TEST_K8S_ARCH) --pause $(B)/pause \
		$(addprefix --extra-image ,$(TEST_ADDON_IMAGES)) --out $(TEST_IMAGES)
test-images: $(TEST_IMAGES_ARCHIVE)

$(TEST_ADDONS)/catalog/flannel.yaml: qemu-tests/doubles/mkaddons.sh $(wildcard qemu-tests/doubles/addons/*.yaml qemu-tests/doubles/addons/manifests/*)
	qemu-tests/doubles/mkaddons.sh qemu-tests/doubles/addons $(TEST_ADDONS) http://127.0.0.1:$(TEST_ADDONS_PORT)
test-addons: $(TEST_ADDONS)/catalog/flannel.yaml
