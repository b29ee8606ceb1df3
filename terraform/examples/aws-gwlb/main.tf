# Mirror the database tier of a production VPC through a Gateway Load
# Balancer endpoint.
#
# The GWLB endpoint (the mirror target) sits in a production subnet; the
# GWLB and the collectors sit in a collector VPC that production cannot route
# to at all: the endpoint reaches them over PrivateLink. Collectors receive
# each mirrored VXLAN packet wrapped in GENEVE on UDP 6081.

terraform {
  required_version = ">= 1.3.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.30, < 7.0"
    }
  }
}

provider "aws" {
  region = "us-east-2"

  default_tags {
    tags = {
      Project     = "vxcollector"
      Environment = "prod"
    }
  }
}

# Every ENI in the database tier's security group.
data "aws_network_interfaces" "db" {
  filter {
    name   = "group-id"
    values = ["sg-04c3b2a1f0e9d8c7b"]
  }
}

module "collectors" {
  source = "../../modules/aws-mirror-target-fleet"

  name   = "vxc-db"
  vpc_id = "vpc-07f6e5d4c3b2a1098"
  collector_subnets = [
    { availability_zone = "us-east-2a", cidr_block = "10.61.0.0/24" },
    { availability_zone = "us-east-2b", cidr_block = "10.61.1.0/24" },
  ]
  nat_gateway_id = "nat-03a4b5c6d7e8f9012"

  # Plain Debian 12; cloud-init builds vxcollector at first boot from your
  # copy of this repository.
  ami_id                            = "ami-05c6d7e8f9a0b1c23"
  instance_type                     = "c6in.xlarge"
  source_git_url                    = "https://git.example.net/netops/vxcollector.git"
  source_git_ref                    = "v0.1.0"
  health_check_grace_period_seconds = 1200

  load_balancer_type      = "gwlb"
  gwlb_endpoint_vpc_id    = "vpc-0aa1bb2cc3dd4ee5f"
  gwlb_endpoint_subnet_id = "subnet-0f9e8d7c6b5a43210"

  source_eni_ids = data.aws_network_interfaces.db.ids
  packet_length  = 128

  # Deny by default: only PostgreSQL traffic is mirrored.
  filter_rules = [
    {
      description            = "Clients to PostgreSQL"
      direction              = "ingress"
      rule_number            = 100
      action                 = "accept"
      protocol               = 6
      source_cidr_block      = "10.30.0.0/16"
      destination_cidr_block = "10.30.64.0/20"
      destination_port_range = { from = 5432, to = 5432 }
    },
    {
      description            = "PostgreSQL replies"
      direction              = "egress"
      rule_number            = 100
      action                 = "accept"
      protocol               = 6
      source_cidr_block      = "10.30.64.0/20"
      destination_cidr_block = "10.30.0.0/16"
      source_port_range      = { from = 5432, to = 5432 }
    },
  ]

  tags = {
    Team = "dba"
  }
}

output "traffic_mirror_target_id" {
  description = "Mirror target (the GWLB endpoint)."
  value       = module.collectors.traffic_mirror_target_id
}

output "gwlb_endpoint_id" {
  description = "GWLB endpoint in the production VPC."
  value       = module.collectors.gwlb_endpoint_id
}

output "autoscaling_group_name" {
  description = "Collectors' Auto Scaling group."
  value       = module.collectors.autoscaling_group_name
}
