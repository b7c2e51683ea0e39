/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "vfm-host.h"

G_BEGIN_DECLS

/* Domain XML for passthrough devices (libxml2, never hand-built strings). */

/* libvirt versions as virConnectGetLibVersion encodes them. */
#define VFM_LIBVIRT_VERSION(major, minor, micro) ((major) * 1000000ul + (minor) * 1000ul + (micro))

/* The <hostdev> element a user pastes into a domain for dev, plus, where a
 * profile needs QEMU options libvirt has no element for (IGD), the
 * <qemu:override> that sets them. managed='no' when vfmig owns the binding,
 * so that libvirt does not rebind plain vfio-pci over a variant driver;
 * <driver model='…'/> only for libvirt >= 10.0 (libvirt_version 0: unknown). */
char *vfm_hostdev_xml (VfmHost       *host,
                       VfmPciDevice  *dev,
                       VfmSelection  *sel,
                       gboolean       owned,
                       gulong         libvirt_version,
                       GError       **error);

typedef struct {
  char *name;                /* "enable-migration" */
  char *type;                /* "string", "bool", … as the XML says */
  char *value;
} VfmQemuOverride;

/* A passthrough device of a domain, as its XML describes it. */
typedef struct {
  char *bdf;             /* host address, "dddd:bb:ss.f" */
  gboolean managed;
  gboolean is_interface; /* <interface type='hostdev'> rather than <hostdev> */
  char *driver_name;     /* <driver name=…>: "kvm" is legacy pci-assign */
  char *driver_model;    /* <driver model=…> (libvirt >= 10.0) */
  char *alias;
  char *guest_address;   /* "bb:ss.f" on the guest bus, or NULL */
  char *teaming;         /* "transient" / "persistent" (failover pairs), or NULL */
  char *teaming_peer;    /* the persistent device's alias, for transient ones */
  char *mac;             /* interface MAC, for <interface type='hostdev'> */
  char *vlan;            /* interface <vlan> tags, "42" or "10,20 (trunk)", or NULL */
  GPtrArray *overrides;  /* VfmQemuOverride set on its alias (defined below), never NULL */
  GPtrArray *running;    /* VfmQemuOverride: what the running QEMU reports (qom-get), NULL: not asked */
} VfmHostdev;

/* A mediated device of a domain: <hostdev mode='subsystem' type='mdev'
 * model='vfio-pci'><source><address uuid=…/>, and the QEMU properties a
 * <qemu:override> sets on its alias (DESIGN.md, Decisions 30). */

typedef struct {
  char *uuid;
  char *model;               /* "vfio-pci", "vfio-ccw", … */
  char *alias;
  GPtrArray *overrides;      /* VfmQemuOverride: <qemu:property> set on the alias's frontend */
  GPtrArray *running;        /* VfmQemuOverride: what the running QEMU reports (qom-get), NULL: not asked */
} VfmMdevHostdev;

const VfmQemuOverride *vfm_mdev_hostdev_override (const VfmMdevHostdev *m, const char *name);
/* The last property of that name among overrides, or NULL. */
const VfmQemuOverride *vfm_qemu_override_find    (GPtrArray *overrides, const char *name);
/* A property as vfmig records it (type: "string", "bool", "number" for
 * what QEMU answered); vfm_qemu_override_free frees it. */
VfmQemuOverride       *vfm_qemu_override_new     (const char *name, const char *type, const char *value);
void                   vfm_qemu_override_free    (gpointer override);
/* The value of property name the device runs with: what the running QEMU
 * reported (running, when asked: *from_qemu TRUE), else the domain's
 * <qemu:override>; NULL when neither sets it (QEMU's default). */
const VfmQemuOverride *vfm_qemu_property_in_effect (GPtrArray *overrides, GPtrArray *running, const char *name,
                                                    gboolean *from_qemu);
/* value and wanted mean the same to QEMU ("on"/"true"/"yes",
 * "off"/"false"/"no", else equal strings). */
gboolean               vfm_qemu_value_equal      (const char *value, const char *wanted);

typedef struct {
  char *name;
  char *uuid;
  char *machine;
  gboolean acpi;         /* <features><acpi/>: PCI hot(un)plug works */
  gboolean viommu;       /* <devices><iommu> */
  GPtrArray *hostdevs;   /* VfmHostdev, PCI only */
  gboolean has_persistent_teaming; /* a virtio-net standby (<teaming type='persistent'>) */
  gboolean legacy_other; /* non-PCI, non-mdev hostdevs (scsi, capabilities) */
  GPtrArray *mdevs;      /* VfmMdevHostdev */
  guint64 memory_kib;    /* <memory>, 0: not given */
} VfmDomainInfo;

void           vfm_domain_info_free (VfmDomainInfo *info);
VfmDomainInfo *vfm_domain_info_new  (const char *name);
VfmHostdev    *vfm_domain_add_hostdev (VfmDomainInfo *info,
                                       const char    *bdf);
VfmDomainInfo *vfm_domain_parse     (const char *xml,
                                     gsize       len,
                                     GError    **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (VfmDomainInfo, vfm_domain_info_free)

#define VFM_XML_NAMESPACE "urn:vfmig:1"

/* The destination's XML: each hostdev whose source address is a key of
 * moves points at its value (the claimed device) with managed='no' (vfmig
 * binds it), and each mediated device whose UUID is a key gets the value's
 * UUID; hostdevs in drop are left out (replugged after the migration);
 * claim_id goes into <metadata><vfmig:claim id=…/> for the destination hook.
 * Nothing else of the user's XML changes. */
char *vfm_domain_rewrite   (const char  *xml,
                            gsize        len,
                            GHashTable  *moves,
                            GHashTable  *drop,
                            const char  *claim_id,
                            GError     **error);
/* The domain XML with each property (name, type, value) set on the
 * frontend of the device with that alias in <qemu:override>, replacing a
 * property of the same name; the qemu namespace is declared on <domain> if
 * it is not. Nothing else changes (Decisions 30). */
char *vfm_domain_set_qemu_properties (const char  *xml,
                                      gsize        len,
                                      const char  *alias,
                                      const char * const *names,
                                      const char * const *types,
                                      const char * const *values,
                                      GError     **error);
char *vfm_domain_claim_id  (const char  *xml,
                            gsize        len);
char *vfm_hostdev_element  (const char  *bdf,
                            const char  *alias);
/* The domain's own <hostdev> (or <interface type='hostdev'>) element whose
 * source is bdf, exactly as the domain has it - guest address, <rom>,
 * <alias>, <driver>, <acpi>, <boot>, managed - with, when to is not NULL, the
 * source address set to to and managed='no' (vfmig bound it there). NULL
 * when the domain has no such device. */
char *vfm_domain_hostdev_xml (const char  *xml,
                              gsize        len,
                              const char  *bdf,
                              const char  *to,
                              GError     **error);
/* A domain's migratable XML (what libvirt migrates) with each <interface
 * type='network'> whose network hands out VFs (<forward mode='hostdev'>)
 * replaced by the device it uses, as the live XML (flags 0) shows it:
 * <interface type='hostdev'> with the VF's <source><address>, its MAC and
 * the VLAN the network gave it. Matched by MAC; other interfaces and
 * everything else unchanged. notes gets one line per replaced interface.
 * The persistent definition is never changed this way (it keeps
 * type='network'). */
char *vfm_domain_actualize   (const char  *xml,
                              gsize        len,
                              const char  *live,
                              gsize        live_len,
                              GPtrArray   *notes,
                              GError     **error);
/* The same change on a hostdev element alone (one vfm_domain_hostdev_xml
 * returned): source address to, managed='no'. */
char *vfm_hostdev_retarget   (const char  *element,
                              const char  *to,
                              GError     **error);

G_END_DECLS
