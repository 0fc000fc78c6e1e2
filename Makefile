# kubeseed — see README.md. `make image` and `make test` are the two commands;
# both install their own build dependencies through apt when missing.

HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || uname -m)
ARCH ?= $(HOST_ARCH)
PROFILE ?= ubuntu-noble
OUT ?= out
CACHE ?= $(if $(KUBESEED_CACHE),$(KUBESEED_CACHE),$(if $(XDG_CACHE_HOME),$(XDG_CACHE_HOME),$(HOME)/.cache)/kubeseed)
MIRROR ?=
TEST_PROFILE ?= debian-bookworm

CC ?= cc
B := build
PKGS := yaml-0.1 libcurl libarchive libssl libcrypto blkid zlib
CPPFLAGS += -Ilib -Ibuilder -Ifirstboot -D_GNU_SOURCE
CFLAGS ?= -O2 -g
CFLAGS += -std=gnu17 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wno-format-nonliteral \
          -fno-strict-aliasing
PKG_CFLAGS = $(shell $(PKG_ENV) pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS = $(shell $(PKG_ENV) pkg-config --libs $(PKGS) 2>/dev/null)
TEST_LIBS = $(shell pkg-config --libs cmocka 2>/dev/null)
SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all

LIB_SRC := $(wildcard lib/*.c)
BUILDER_SRC := $(filter-out builder/main.c,$(wildcard builder/*.c))
AGENT_SRC := $(filter-out firstboot/main.c,$(wildcard firstboot/*.c))
CORE_SRC := $(LIB_SRC) $(BUILDER_SRC) $(AGENT_SRC)

# The agent for another architecture (ARCH=arm64 on an amd64 host) is
# cross-compiled by a sub-make with B=$(B)/$(ARCH), SYSROOT set and CROSS the
# GNU triplet of Debian's cross toolchain (gcc-<triplet>, binutils-<triplet>):
# the target's own headers and libraries, linked as on the target.
CROSS_amd64 := x86_64-linux-gnu
CROSS_arm64 := aarch64-linux-gnu
ifdef SYSROOT
override CC := $(CROSS)-gcc
override AR := $(CROSS)-ar
CFLAGS += --sysroot=$(SYSROOT)
PKG_ENV := PKG_CONFIG_SYSROOT_DIR=$(SYSROOT) \
	PKG_CONFIG_LIBDIR=$(SYSROOT)/usr/lib/$(CROSS)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig
CORE_SRC := $(LIB_SRC) $(AGENT_SRC)
endif
TEST_SRC := $(wildcard tests/unit/test-*.c)

CORE_OBJ := $(CORE_SRC:%.c=$(B)/obj/%.o)
CORE_SAN_OBJ := $(CORE_SRC:%.c=$(B)/san/%.o)
TESTS := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TESTS_SAN := $(TEST_SRC:tests/unit/%.c=$(B)/tests-san/%)

.PHONY: all deps deps-check image test-image test-image-doubles test unit unit-plain unit-san integration qemu-test qemu-test-cross bench lint install clean FORCE
.DEFAULT_GOAL := all

all: deps-check $(B)/kubeseed $(B)/kubeseed-firstboot

# Install missing build dependencies (apt). `deps-check` does it only when a
# marker of an earlier install is older than the script.
deps:
	scripts/install-deps.sh --force
deps-check:
	@scripts/install-deps.sh

# -MMD: each object depends on exactly the headers it includes.
$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@
$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -MMD -MP -c $< -o $@
-include $(shell find $(B) -name '*.d' 2>/dev/null)

# Written under a temporary name and renamed: a concurrent link never sees a
# half-written archive.
$(B)/libkubeseed.a: $(CORE_OBJ)
	@rm -f $@.tmp$$$$ && $(AR) rcs $@.tmp$$$$ $^ && mv -f $@.tmp$$$$ $@
$(B)/libkubeseed-san.a: $(CORE_SAN_OBJ)
	@rm -f $@.tmp$$$$ && $(AR) rcs $@.tmp$$$$ $^ && mv -f $@.tmp$$$$ $@

$(B)/kubeseed: $(B)/obj/builder/main.o $(B)/libkubeseed.a
	$(CC) $(CFLAGS) -o $@ $^ $(PKG_LIBS)
# --as-needed: the agent records a library only when it calls into it
# (libcurl is dlopen()ed by lib/http.c when a request is made).
$(B)/kubeseed-firstboot: $(B)/obj/firstboot/main.o $(B)/libkubeseed.a
	$(CC) $(CFLAGS) -Wl,--as-needed -o $@ $^ $(PKG_LIBS)

# The agent ARCH's images carry: built here, or cross-built for another
# architecture against the sysroot `kubeseed sysroot` makes from the image's
# profile (AGENT_PROFILE: PROFILE for `make image`, TEST_PROFILE for the
# test images) and caches; the sub-make rebuilds when that sysroot changes.
AGENT_PROFILE ?= $(PROFILE)
ifeq ($(ARCH),$(HOST_ARCH))
AGENT := $(B)/kubeseed-firstboot
else
AGENT := $(B)/$(ARCH)/kubeseed-firstboot
endif
ifndef SYSROOT
$(B)/$(ARCH)/kubeseed-firstboot: $(B)/kubeseed FORCE
	@test -n "$(CROSS_$(ARCH))" || { echo "no cross toolchain known for ARCH=$(ARCH)" >&2; exit 1; }
	@sysroot=$$($(B)/kubeseed sysroot -p images/$(AGENT_PROFILE).yaml --arch $(ARCH) --cache $(CACHE) \
		$(if $(MIRROR),--set mirrors.main=$(MIRROR))) && \
	$(MAKE) --no-print-directory B=$(B)/$(ARCH) SYSROOT="$$sysroot" CROSS=$(CROSS_$(ARCH)) $@
else
$(B)/sysroot: FORCE
	@mkdir -p $(B) && echo '$(SYSROOT)' | cmp -s - $@ || echo '$(SYSROOT)' >$@
$(CORE_OBJ) $(B)/obj/firstboot/main.o: $(B)/sysroot
endif
FORCE:

$(B)/tests/%: tests/unit/%.c $(B)/libkubeseed.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -o $@ $< $(B)/libkubeseed.a $(PKG_LIBS) $(TEST_LIBS)
$(B)/tests-san/%: tests/unit/%.c $(B)/libkubeseed-san.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(SAN) $(PKG_CFLAGS) -MMD -MP -o $@ $< $(B)/libkubeseed-san.a $(PKG_LIBS) $(TEST_LIBS)

unit-plain: deps-check $(TESTS)
	@tests/run-unit.sh $(TESTS)
unit-san: deps-check $(TESTS_SAN)
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
		tests/run-unit.sh $(TESTS_SAN)
unit: unit-plain unit-san

# The image every test boots. Tests always use the Debian profile: it is the
# only archive reachable from our CI machines.
TEST_IMAGE := $(OUT)/kubeseed-$(TEST_PROFILE)-$(ARCH).raw

image: AGENT_PROFILE = $(PROFILE)
image: all $(AGENT)
	$(B)/kubeseed build -p images/$(PROFILE).yaml --arch $(ARCH) -o $(OUT) --cache $(CACHE) \
		--agent $(AGENT) $(if $(MIRROR),--set mirrors.main=$(MIRROR))

test-image: AGENT_PROFILE = $(TEST_PROFILE)
test-image: all $(AGENT)
	$(B)/kubeseed build -p images/$(TEST_PROFILE).yaml --arch $(ARCH) -o $(OUT) --cache $(CACHE) \
		--agent $(AGENT) $(if $(MIRROR),--set mirrors.main=$(MIRROR))

# The same profile with the kubeadm/kubectl test double added: what the
# agent's scenarios boot (never shipped).
DOUBLES_OUT := $(OUT)/test-doubles
DOUBLES_IMAGE := $(DOUBLES_OUT)/kubeseed-$(TEST_PROFILE)-$(ARCH).raw
# Built the way an air-gapped site builds: the Kubernetes bundle from a
# directory (kubernetes.source: dir:) and the images from OCI archives
# (images.source: dir:), both made of test doubles (qemu-tests/doubles/).
# The add-ons come from the test catalogue, their manifests downloaded from
# a loopback server (mktestbundle serve) for as long as the build runs.
test-image-doubles: AGENT_PROFILE = $(TEST_PROFILE)
test-image-doubles: all $(AGENT) test-bundle test-images test-addons
	$(B)/mktestbundle serve --dir $(TEST_ADDONS)/files --port $(TEST_ADDONS_PORT) -- \
	$(B)/kubeseed build -p images/$(TEST_PROFILE).yaml --arch $(ARCH) -o $(DOUBLES_OUT) --cache $(CACHE) \
		--agent $(AGENT) \
		--set kubernetes.version=$(TEST_K8S_VERSION) \
		--set kubernetes.source=dir:$(CURDIR)/$(TEST_BUNDLE) \
		--set kubernetes.crictl.version=$(TEST_CRICTL_VERSION) \
		--set kubernetes.cni.version=$(TEST_CNI_VERSION) \
		--set images.source=dir:$(CURDIR)/$(TEST_IMAGES) \
		--set addons.catalog=$(CURDIR)/$(TEST_ADDONS)/catalog \
		$(if $(MIRROR),--set mirrors.main=$(MIRROR))

# The other architecture's product image, cross-built from this host, boots
# too (boot-basic): TEST_CROSS_ARCH= (empty) leaves it out. The test doubles
# (and so the other scenarios) are built for the host's architecture only.
# Its own output directory: SHA256SUMS and manifest.json describe one build.
TEST_CROSS_ARCH ?= $(filter-out $(ARCH),amd64 arm64)
TEST_CROSS_OUT := $(OUT)/$(TEST_CROSS_ARCH)
TEST_CROSS_IMAGE := $(TEST_CROSS_OUT)/kubeseed-$(TEST_PROFILE)-$(TEST_CROSS_ARCH).raw
qemu-test-cross:
	$(if $(TEST_CROSS_ARCH),$(MAKE) --no-print-directory ARCH=$(TEST_CROSS_ARCH) OUT=$(TEST_CROSS_OUT) test-image)

# The real Kubernetes v1.20.2 bundle, built from Debian's source package
# (qemu-tests/k8s/), booted as a two-node cluster: TEST_REAL_K8S= (empty)
# leaves it out. Host architecture only.
TEST_REAL_K8S ?= yes
qemu-test: test-image test-image-doubles qemu-test-cross $(if $(TEST_REAL_K8S),k8s-image)
	KUBESEED=$(CURDIR)/$(B)/kubeseed qemu-tests/run-all.sh $(if $(TEST_REAL_K8S),--k8s $(K8S_REAL_IMAGE)) \
		$(TEST_IMAGE) $(DOUBLES_IMAGE) $(ARCH) \
		$(if $(TEST_CROSS_ARCH),$(TEST_CROSS_IMAGE) $(TEST_CROSS_ARCH))

# Scripts that drive the real CLI against real local services (no internet);
# each prints "NAME: N passed, N failed".
integration: all test-bundle
	TEST_K8S_VERSION=$(TEST_K8S_VERSION) TEST_CRICTL_VERSION=$(TEST_CRICTL_VERSION) \
		TEST_CNI_VERSION=$(TEST_CNI_VERSION) \
		tests/integration/airgap-mirror.sh $(B)/kubeseed $(TEST_BUNDLE) $(TEST_K8S_ARCH)

test: unit
	$(MAKE) integration
	$(if $(TEST_REAL_K8S),$(MAKE) k8s-check)
	$(MAKE) qemu-test

bench: all
	B=$(B) OUT=$(OUT) bench/run.sh $(TEST_PROFILE) $(ARCH) $(CACHE)

lint:
	clang-format --dry-run --Werror $(wildcard lib/*.[ch] builder/*.[ch] firstboot/*.[ch] tests/unit/*.c)
	cppcheck --quiet --error-exitcode=1 --std=c11 --suppress=memleak -Ilib lib builder firstboot
	scripts/banned-calls.sh

install: all
	install -D -m 0755 $(B)/kubeseed $(DESTDIR)/usr/local/bin/kubeseed
	install -D -m 0755 $(B)/kubeseed-firstboot $(DESTDIR)/usr/lib/kubeseed/kubeseed-firstboot

clean:
	rm -rf $(B)

# The kubeadm/kubectl test double (qemu-tests/doubles/), packed into the
# test bundle by qemu-tests/doubles/doubles.mk. Never in a user's image.
$(B)/kubeadm-double: qemu-tests/doubles/kubeadm-double.c $(B)/libkubeseed.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(PKG_CFLAGS) -o $@ $< $(B)/libkubeseed.a $(PKG_LIBS)

include qemu-tests/doubles/doubles.mk
include qemu-tests/k8s/k8s.mk
