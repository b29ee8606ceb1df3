# Mirror the web tier of a production VPC to a collector fleet behind an
# internal Network Load Balancer.
#
# The collectors live in a VPC of their own (10.60.0.0/16), peered with
# production (10.20.0.0/16). Production's route tables send 10.60.0.0/16 over
# the peering; the collector route table has no route back, and needs none:
# the mirror feed is one-way UDP.

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
  region = "eu-west-1"

  default_tags {
    tags = {
      Project     = "vxcollector"
      Environment = "prod"
    }
  }
}

# Every ENI in the web tier's security group.
data "aws_network_interfaces" "web" {
  filter {
    name   = "group-id"
    values = ["sg-0b7e4c1d2a3f45678"]
  }
}

module "collectors" {
  source = "../../modules/aws-mirror-target-fleet"

  name   = "vxc-prod"
  vpc_id = "vpc-0c4d5e6f7a8b90123"
  collector_subnets = [
    { availability_zone = "eu-west-1a", cidr_block = "10.60.10.0/24" },
    { availability_zone = "eu-west-1b", cidr_block = "10.60.11.0/24" },
    { availability_zone = "eu-west-1c", cidr_block = "10.60.12.0/24" },
  ]
  nat_gateway_id = "nat-0e1f2a3b4c5d67890"

  # Debian 12 image baked with deploy/build.sh: vxcollector is already installed.
  ami_id           = "ami-0a1b2c3d4e5f67890"
  instance_type    = "c6in.2xlarge"
  key_name         = "netops"
  min_size         = 3
  max_size         = 9
  desired_capacity = 3

  load_balancer_type  = "nlb"
  health_port         = 9469
  mirror_source_cidrs = ["10.20.0.0/16"]

  source_eni_ids = data.aws_network_interfaces.web.ids
  packet_length  = 128

  # Deny by default: only what these rules accept is mirrored.
  filter_rules = [
    {
      description            = "HTTPS to the web tier"
      direction              = "ingress"
      rule_number            = 100
      action                 = "accept"
      protocol               = 6
      source_cidr_block      = "0.0.0.0/0"
      destination_cidr_block = "10.20.0.0/16"
      destination_port_range = { from = 443, to = 443 }
    },
    {
      description            = "Web tier to PostgreSQL"
      direction              = "egress"
      rule_number            = 100
      action                 = "accept"
      protocol               = 6
      source_cidr_block      = "10.20.0.0/16"
      destination_cidr_block = "10.20.64.0/20"
      destination_port_range = { from = 5432, to = 5432 }
    },
    {
      description            = "HTTPS responses"
      direction              = "egress"
      rule_number            = 200
      action                 = "accept"
      protocol               = 6
      source_cidr_block      = "10.20.0.0/16"
      destination_cidr_block = "0.0.0.0/0"
      source_port_range      = { from = 443, to = 443 }
    },
  ]

  extra_iam_policy_arns = [
    "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore",
  ]

  tags = {
    Team = "netops"
  }
}

output "traffic_mirror_target_id" {
  description = "Mirror target (the NLB) for sessions made elsewhere."
  value       = module.collectors.traffic_mirror_target_id
}

output "traffic_mirror_session_vnis" {
  description = "VNI per mirrored ENI: the collector's lane per source."
  value       = module.collectors.traffic_mirror_session_vnis
}

output "load_balancer_dns_name" {
  description = "DNS name of the collectors' NLB."
  value       = module.collectors.load_balancer_dns_name
}
