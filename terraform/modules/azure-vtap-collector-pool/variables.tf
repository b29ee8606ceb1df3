# ---------------------------------------------------------------------------
# Naming and placement
# ---------------------------------------------------------------------------

variable "name" {
  description = "Prefix for every resource name."
  type        = string
  default     = "vxcollector"

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,39}$", var.name))
    error_message = "name must be 1-40 letters, digits or hyphens and start with a letter or digit."
  }
}

variable "resource_group_name" {
  description = "Existing resource group for the scale set, load balancer, NSG and virtual network TAP."
  type        = string
}

variable "location" {
  description = "Azure region. null: the resource group's region."
  type        = string
  default     = null
}

variable "subnet_id" {
  description = "Dedicated collector subnet for the scale set and the load balancer's private frontend. It must be in the sources' virtual network or one peered with it (a VTAP destination must be reachable from the sources)."
  type        = string
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Scale set
# ---------------------------------------------------------------------------

variable "vm_size" {
  description = "VM size. It must support accelerated networking (and Premium SSD, for the OS disk)."
  type        = string
  default     = "Standard_D4s_v5"
}

variable "instances" {
  description = "Number of collectors. At least 2, spread over the zones."
  type        = number
  default     = 2

  validation {
    condition     = var.instances >= 2
    error_message = "instances must be at least 2."
  }
}

variable "zones" {
  description = "Availability zones the scale set spreads over (balanced). At least two."
  type        = list(string)
  default     = ["1", "2", "3"]

  validation {
    condition     = length(var.zones) >= 2 && length(distinct(var.zones)) == length(var.zones)
    error_message = "zones needs at least two distinct zones."
  }
}

variable "admin_username" {
  description = "Admin user on the collectors (SSH key login only)."
  type        = string
  default     = "vxcadmin"
}

variable "admin_ssh_public_key" {
  description = "OpenSSH public key for admin_username."
  type        = string
}

variable "ssh_source_address_prefixes" {
  description = "Address prefixes allowed to SSH to the collectors (e.g. an Azure Bastion subnet). []: no SSH rule, so the NSG's final deny blocks it."
  type        = list(string)
  default     = []
}

variable "source_image" {
  description = "Marketplace image for the collectors: Debian 12, or an image baked from it with vxcollector installed."
  type = object({
    publisher = string
    offer     = string
    sku       = string
    version   = string
  })
  default = {
    publisher = "Debian"
    offer     = "debian-12"
    sku       = "12-gen2"
    version   = "latest"
  }
}

variable "os_disk_size_gb" {
  description = "OS disk size in GiB; pcap files are written under /var/lib/vxcollector on it."
  type        = number
  default     = 128

  validation {
    condition     = var.os_disk_size_gb >= 30
    error_message = "os_disk_size_gb must be at least 30."
  }
}

variable "cloud_init_path" {
  description = "Cloud-init file rendered with templatefile() as custom data, e.g. \"$${path.root}/../../../deploy/cloud-init.yaml\". A literal $${ in it must be written $$${. null: the module's templates/cloud-init.yaml.tftpl."
  type        = string
  default     = null
}

variable "collector_args" {
  description = "Command-line arguments for vxcollector in the module's own cloud-init (the --http-listen port comes from health_port). The default runs DPDK's AF_PACKET driver on eth0, so the kernel keeps the interface for SSH and the load balancer's probes. Azure VTAP sets no per-source VNI: every source arrives with the same VNI, so the default keys lanes by VNI and tunnel source (--lane-key vni+source): one lane per source VM."
  type        = string
  default     = "--output-dir /var/lib/vxcollector --lane-key vni+source --snaplen 128 --rotate-seconds 300 --min-free-mb 4096 -- -l 0-1 --no-huge --vdev net_af_packet0,iface=eth0"
}

variable "source_git_url" {
  description = "Git repository the module's own cloud-init clones and builds vxcollector from (deploy/setup-debian.sh, meson install). null: the image already has /usr/local/bin/vxcollector."
  type        = string
  default     = null
}

variable "source_git_ref" {
  description = "Branch or tag of source_git_url to build."
  type        = string
  default     = "main"
}

variable "drain_timeout_minutes" {
  description = "Termination notification timeout: how long a collector being removed may take to drain (SIGTERM turns /healthz 503, the collector completes its pcap files) before Azure deletes it. Azure allows 5 to 15 minutes."
  type        = number
  default     = 5

  validation {
    condition     = var.drain_timeout_minutes >= 5 && var.drain_timeout_minutes <= 15
    error_message = "drain_timeout_minutes must be between 5 and 15."
  }
}

# ---------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------

variable "health_port" {
  description = "TCP port of the collector's /healthz (vxcollector --http-listen; its default is 9469). /healthz answers 200 when healthy and 503 while draining."
  type        = number
  default     = 9469

  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535
    error_message = "health_port must be a TCP port number."
  }
}

variable "lb_rule" {
  description = "\"ha-ports\": one HA-ports rule (protocol All, port 0), which also carries non-first IP fragments of large mirrored packets (they have no UDP header). \"udp-4789\": a UDP 4789 rule only."
  type        = string
  default     = "ha-ports"

  validation {
    condition     = contains(["ha-ports", "udp-4789"], var.lb_rule)
    error_message = "lb_rule must be \"ha-ports\" or \"udp-4789\"."
  }
}

variable "frontend_private_ip" {
  description = "Static private address for the load balancer frontend (the VTAP destination). null: Azure assigns one from subnet_id."
  type        = string
  default     = null
}

variable "mirror_source_address_prefix" {
  description = "Source allowed to send VXLAN (UDP 4789) to the collectors: an address prefix or a service tag. Azure's load balancer keeps the source address, so this is where the tapped VMs are."
  type        = string
  default     = "VirtualNetwork"
}

# ---------------------------------------------------------------------------
# Virtual network TAP
# ---------------------------------------------------------------------------

variable "source_nic_ids" {
  description = "IDs of the network interfaces to tap (VM NICs); one tap configuration each, all pointing at this pool's VTAP."
  type        = list(string)
  default     = []
}
