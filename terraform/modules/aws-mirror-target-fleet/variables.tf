# ---------------------------------------------------------------------------
# Naming and placement
# ---------------------------------------------------------------------------

variable "name" {
  description = "Prefix for every resource name. Load balancer and target group names are limited to 32 characters, so keep this short."
  type        = string
  default     = "vxcollector"

  validation {
    condition     = can(regex("^[a-zA-Z0-9][a-zA-Z0-9-]{0,19}$", var.name))
    error_message = "name must be 1-20 letters, digits or hyphens and start with a letter or digit."
  }
}

variable "vpc_id" {
  description = "VPC the collector subnets, load balancer and instances are created in. A VPC of its own (peered or attached to a transit gateway) keeps the collectors furthest from production."
  type        = string
}

variable "collector_subnets" {
  description = "Dedicated collector subnets the module creates, one per availability zone. At least two zones, so the fleet and its load balancer survive the loss of one."
  type = list(object({
    availability_zone = string
    cidr_block        = string
  }))

  validation {
    condition     = length(var.collector_subnets) >= 2
    error_message = "collector_subnets needs at least two entries (two availability zones)."
  }

  validation {
    condition     = length(distinct([for s in var.collector_subnets : s.availability_zone])) == length(var.collector_subnets)
    error_message = "Each collector subnet must be in a different availability zone."
  }

  validation {
    condition     = alltrue([for s in var.collector_subnets : can(cidrhost(s.cidr_block, 0))])
    error_message = "Every cidr_block must be an IPv4 CIDR such as 10.20.240.0/24."
  }
}

variable "nat_gateway_id" {
  description = "NAT gateway for a 0.0.0.0/0 route from the collector subnets (package installs, pcap uploads). null: the collector route table keeps only the VPC's local route."
  type        = string
  default     = null
}

variable "tags" {
  description = "Tags added to every resource that takes tags."
  type        = map(string)
  default     = {}
}

# ---------------------------------------------------------------------------
# Instances
# ---------------------------------------------------------------------------

variable "ami_id" {
  description = "AMI for the collectors: Debian 12 (or an image baked from it with vxcollector already installed)."
  type        = string
}

variable "instance_type" {
  description = "Instance type. Nitro with ENA; network-optimised types (c6in, c7gn, m6in) carry the most mirror traffic."
  type        = string
  default     = "c6in.xlarge"
}

variable "root_device_name" {
  description = "Root device name of the AMI (Debian's AMIs use /dev/xvda)."
  type        = string
  default     = "/dev/xvda"
}

variable "key_name" {
  description = "EC2 key pair for SSH. null: no key (use SSM Session Manager)."
  type        = string
  default     = null
}

variable "root_volume_size_gb" {
  description = "Root volume size in GiB; pcap files are written under /var/lib/vxcollector on it."
  type        = number
  default     = 100

  validation {
    condition     = var.root_volume_size_gb >= 20
    error_message = "root_volume_size_gb must be at least 20."
  }
}

variable "cloud_init_path" {
  description = "Cloud-init file rendered with templatefile() as user data, e.g. \"$${path.root}/../../../deploy/cloud-init.yaml\". A literal $${ in it must be written $$${. null: the module's templates/cloud-init.yaml.tftpl."
  type        = string
  default     = null
}

variable "collector_args" {
  description = "Command-line arguments for vxcollector in the module's own cloud-init (the --http-listen port comes from health_port). The default runs DPDK's AF_PACKET driver on the primary ENI, so the kernel keeps the interface for SSH and health checks."
  type        = string
  default     = "--output-dir /var/lib/vxcollector --snaplen 128 --rotate-seconds 300 --min-free-mb 4096 -- -l 0-1 --no-huge --vdev net_af_packet0,iface=ens5"
}

variable "source_git_url" {
  description = "Git repository the module's own cloud-init clones and builds vxcollector from (deploy/setup-debian.sh, meson install). null: the AMI already has /usr/local/bin/vxcollector."
  type        = string
  default     = null
}

variable "source_git_ref" {
  description = "Branch or tag of source_git_url to build."
  type        = string
  default     = "main"
}

variable "extra_iam_policy_arns" {
  description = "Managed policies attached to the collectors' instance role besides the module's own (which only completes the drain lifecycle action), e.g. S3 write access for a --post-rotate upload or AmazonSSMManagedInstanceCore."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------
# Auto Scaling
# ---------------------------------------------------------------------------

variable "min_size" {
  description = "Smallest fleet size. At least 2, one per zone, so a zone failure leaves a collector running."
  type        = number
  default     = 2

  validation {
    condition     = var.min_size >= 2
    error_message = "min_size must be at least 2."
  }
}

variable "max_size" {
  description = "Largest fleet size."
  type        = number
  default     = 6
}

variable "desired_capacity" {
  description = "Initial fleet size; null lets the group start at min_size. Changes outside Terraform (scaling) are not reverted."
  type        = number
  default     = null
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after launch before failed load balancer health checks replace an instance. Building from source_git_url takes several minutes; a baked AMI needs far less."
  type        = number
  default     = 900
}

variable "target_network_in_bytes" {
  description = "Target tracking on ASGAverageNetworkIn (bytes per instance per minute). null: no scaling policy. DPDK polls, so CPU is always busy and is no scaling signal."
  type        = number
  default     = null
}

variable "drain_timeout_seconds" {
  description = "Heartbeat timeout of the termination lifecycle hook: how long a terminating collector may take to drain (SIGTERM turns /healthz 503, the collector completes its pcap files, the --post-rotate command runs) before the group terminates it anyway."
  type        = number
  default     = 300

  validation {
    condition     = var.drain_timeout_seconds >= 30 && var.drain_timeout_seconds <= 7200
    error_message = "drain_timeout_seconds must be between 30 and 7200 (the lifecycle hook's limits)."
  }
}

# ---------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------

variable "load_balancer_type" {
  description = "\"nlb\": internal Network Load Balancer with a UDP 4789 listener, the mirror target is the NLB and collectors receive VXLAN. \"gwlb\": Gateway Load Balancer, the mirror target is a GWLB endpoint and collectors receive the VXLAN packets wrapped in GENEVE (UDP 6081)."
  type        = string
  default     = "nlb"

  validation {
    condition     = contains(["nlb", "gwlb"], var.load_balancer_type)
    error_message = "load_balancer_type must be \"nlb\" or \"gwlb\"."
  }
}

variable "health_port" {
  description = "TCP port of the collector's /healthz (vxcollector --http-listen; its default is 9469). /healthz answers 200 when healthy and 503 while draining."
  type        = number
  default     = 9469

  validation {
    condition     = var.health_port >= 1 && var.health_port <= 65535
    error_message = "health_port must be a TCP port number."
  }
}

variable "deregistration_delay_seconds" {
  description = "Target group deregistration delay. NLB UDP flows idle out after 120 s, but a mirror flow never idles, so at the end of this delay the NLB ends the flows (connection termination) and they move to another collector."
  type        = number
  default     = 120

  validation {
    condition     = var.deregistration_delay_seconds >= 0 && var.deregistration_delay_seconds <= 3600
    error_message = "deregistration_delay_seconds must be between 0 and 3600."
  }
}

variable "mirror_source_cidrs" {
  description = "CIDRs of the mirrored ENIs (nlb only). The NLB keeps the client address for UDP, so the security group admits VXLAN from these. With gwlb, GENEVE comes from the load balancer's own addresses in the collector subnets."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for c in var.mirror_source_cidrs : can(cidrhost(c, 0))])
    error_message = "Every mirror_source_cidrs entry must be a CIDR."
  }
}

variable "gwlb_endpoint_vpc_id" {
  description = "gwlb only: VPC of the Gateway Load Balancer endpoint that is the mirror target, normally the production VPC the sources are in. null: vpc_id."
  type        = string
  default     = null
}

variable "gwlb_endpoint_subnet_id" {
  description = "gwlb only: subnet of the Gateway Load Balancer endpoint (a GWLB endpoint takes exactly one). Required when load_balancer_type is \"gwlb\"."
  type        = string
  default     = null
}

variable "gwlb_allowed_principals" {
  description = "gwlb only: further ARNs allowed to create endpoints to the collectors' endpoint service (e.g. arn:aws:iam::111122223333:root). This account is always allowed."
  type        = list(string)
  default     = []
}

# ---------------------------------------------------------------------------
# Traffic Mirroring
# ---------------------------------------------------------------------------

variable "source_eni_ids" {
  description = "ENIs to mirror; one mirror session each. Sources must be Nitro instances."
  type        = list(string)
  default     = []
}

variable "filter_rules" {
  description = <<-EOT
    Traffic Mirroring filter rules. A mirror filter mirrors nothing that no rule
    accepts, and the module adds no rule of its own: with the default [] the
    sessions mirror nothing (deny by default). Each rule:
      direction              "ingress" or "egress" (relative to the source ENI)
      rule_number            1-32766, unique per direction; lower runs first
      action                 "accept" or "reject"
      protocol               IANA protocol number (6 TCP, 17 UDP); null: all
      source_cidr_block      e.g. "0.0.0.0/0"
      destination_cidr_block e.g. "10.20.0.0/16"
      source_port_range      optional { from, to } (TCP/UDP only)
      destination_port_range optional { from, to } (TCP/UDP only)
      description            optional
  EOT
  type = list(object({
    direction              = string
    rule_number            = number
    action                 = string
    protocol               = optional(number)
    source_cidr_block      = string
    destination_cidr_block = string
    source_port_range = optional(object({
      from = number
      to   = number
    }))
    destination_port_range = optional(object({
      from = number
      to   = number
    }))
    description = optional(string)
  }))
  default = []

  validation {
    condition     = alltrue([for r in var.filter_rules : contains(["ingress", "egress"], r.direction)])
    error_message = "filter_rules[*].direction must be \"ingress\" or \"egress\"."
  }

  validation {
    condition     = alltrue([for r in var.filter_rules : contains(["accept", "reject"], r.action)])
    error_message = "filter_rules[*].action must be \"accept\" or \"reject\"."
  }

  validation {
    condition     = alltrue([for r in var.filter_rules : r.rule_number >= 1 && r.rule_number <= 32766])
    error_message = "filter_rules[*].rule_number must be between 1 and 32766."
  }

  validation {
    condition     = length(distinct([for r in var.filter_rules : "${r.direction}-${r.rule_number}"])) == length(var.filter_rules)
    error_message = "filter_rules[*].rule_number must be unique per direction."
  }
}

variable "mirror_amazon_dns" {
  description = "Also mirror traffic to the Amazon DNS resolver (filter network service \"amazon-dns\"), which Traffic Mirroring leaves out otherwise."
  type        = bool
  default     = false
}

variable "packet_length" {
  description = "Bytes of each mirrored packet that AWS sends (Traffic Mirroring truncates before encapsulating). 128 matches the collector's default --snaplen; null mirrors whole packets."
  type        = number
  default     = 128

  validation {
    condition     = var.packet_length == null ? true : (var.packet_length >= 1 && var.packet_length <= 8500)
    error_message = "packet_length must be between 1 and 8500, or null for whole packets."
  }
}

variable "virtual_network_id" {
  description = "VXLAN VNI for every session. null: AWS picks a distinct VNI per session, so the collector gives each session its own lane. One fixed VNI puts every session in one lane."
  type        = number
  default     = null

  validation {
    condition     = var.virtual_network_id == null ? true : (var.virtual_network_id >= 0 && var.virtual_network_id <= 16777215)
    error_message = "virtual_network_id must fit in 24 bits."
  }
}

variable "session_number" {
  description = "Session number (priority, 1 is highest) of the sessions on each ENI; an ENI can carry up to three sessions."
  type        = number
  default     = 1

  validation {
    condition     = var.session_number >= 1 && var.session_number <= 32766
    error_message = "session_number must be between 1 and 32766."
  }
}
