# Mirror-target fleet for AWS VPC Traffic Mirroring.
#
#   source ENIs --(mirror session, VXLAN UDP 4789)--> mirror target
#     nlb:  internal NLB, UDP listener 4789 -> collectors receive VXLAN
#     gwlb: GWLB endpoint -> Gateway Load Balancer -> collectors receive the
#           VXLAN packets wrapped in GENEVE (UDP 6081)
#
# The collectors run in subnets of their own with a route table that has no
# route to production, behind a security group that admits only the mirror
# feed and health checks.

locals {
  is_nlb  = var.load_balancer_type == "nlb"
  is_gwlb = var.load_balancer_type == "gwlb"

  # vxcollector's own defaults: VXLAN on UDP 4789, GENEVE on UDP 6081.
  mirror_port = local.is_nlb ? 4789 : 6081

  # Known before the group exists, so the user data can name them without
  # making the launch template depend on the group.
  asg_name        = "${var.name}-collectors"
  drain_hook_name = "${var.name}-drain"

  subnets_by_az = { for s in var.collector_subnets : s.availability_zone => s }
  subnet_ids    = [for az in sort(keys(local.subnets_by_az)) : aws_subnet.collector[az].id]

  load_balancer_arn = one(concat(aws_lb.nlb[*].arn, aws_lb.gwlb[*].arn))
  load_balancer_dns = one(concat(aws_lb.nlb[*].dns_name, aws_lb.gwlb[*].dns_name))
  target_group_arn  = one(concat(aws_lb_target_group.vxlan[*].arn, aws_lb_target_group.geneve[*].arn))

  # NLB keeps the client address for UDP: VXLAN arrives from the mirrored
  # ENIs. GWLB re-encapsulates: GENEVE arrives from the load balancer's own
  # addresses in the collector subnets.
  mirror_ingress_cidrs = local.is_nlb ? var.mirror_source_cidrs : [for s in var.collector_subnets : s.cidr_block]

  account_root_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"

  cloud_init_vars = {
    asg_name             = local.asg_name
    drain_hook_name      = local.drain_hook_name
    health_port          = var.health_port
    collector_args       = var.collector_args
    source_git_url       = var.source_git_url == null ? "" : var.source_git_url
    source_git_ref       = var.source_git_ref
    stop_timeout_seconds = max(var.drain_timeout_seconds - 30, 30)
  }
  user_data = templatefile(coalesce(var.cloud_init_path, "${path.module}/templates/cloud-init.yaml.tftpl"), local.cloud_init_vars)
}

data "aws_partition" "current" {}

data "aws_caller_identity" "current" {}

data "aws_vpc" "this" {
  id = var.vpc_id
}

# ---------------------------------------------------------------------------
# Collector network: own subnets, own route table, tight security group
# ---------------------------------------------------------------------------

resource "aws_subnet" "collector" {
  for_each = local.subnets_by_az

  vpc_id                  = var.vpc_id
  availability_zone       = each.key
  cidr_block              = each.value.cidr_block
  map_public_ip_on_launch = false

  tags = merge(var.tags, { Name = "${var.name}-collector-${each.key}" })
}

# No inline routes: the VPC's local route, plus the optional NAT route below,
# is all the collector subnets get. No peering or transit gateway route leads
# to production, and none is needed: mirrored traffic is one-way UDP, so the
# collectors never answer the sources.
resource "aws_route_table" "collector" {
  vpc_id = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-collector" })
}

resource "aws_route" "nat" {
  count = var.nat_gateway_id == null ? 0 : 1

  route_table_id         = aws_route_table.collector.id
  destination_cidr_block = "0.0.0.0/0"
  nat_gateway_id         = var.nat_gateway_id
}

resource "aws_route_table_association" "collector" {
  for_each = aws_subnet.collector

  subnet_id      = each.value.id
  route_table_id = aws_route_table.collector.id
}

resource "aws_security_group" "collector" {
  name_prefix = "${var.name}-collector-"
  description = "vxcollector: mirror feed and health checks in, nothing else"
  vpc_id      = var.vpc_id

  tags = merge(var.tags, { Name = "${var.name}-collector" })

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "mirror" {
  for_each = toset(local.mirror_ingress_cidrs)

  security_group_id = aws_security_group.collector.id
  description       = local.is_nlb ? "VXLAN from mirrored ENIs" : "GENEVE from the Gateway Load Balancer"
  ip_protocol       = "udp"
  from_port         = local.mirror_port
  to_port           = local.mirror_port
  cidr_ipv4         = each.value

  tags = var.tags
}

resource "aws_vpc_security_group_ingress_rule" "health" {
  security_group_id = aws_security_group.collector.id
  description       = "Load balancer health checks (/healthz)"
  ip_protocol       = "tcp"
  from_port         = var.health_port
  to_port           = var.health_port
  cidr_ipv4         = data.aws_vpc.this.cidr_block

  tags = var.tags
}

# Outbound for package installs and pcap uploads; the route table decides
# where packets can actually go.
resource "aws_vpc_security_group_egress_rule" "all" {
  security_group_id = aws_security_group.collector.id
  description       = "Outbound (limited by the collector route table)"
  ip_protocol       = "-1"
  cidr_ipv4         = "0.0.0.0/0"

  tags = var.tags
}

# ---------------------------------------------------------------------------
# Instance role: only what the drain watcher needs, plus what the caller adds
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "assume_ec2" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ec2.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "drain" {
  statement {
    sid       = "CompleteDrainHook"
    actions   = ["autoscaling:CompleteLifecycleAction", "autoscaling:RecordLifecycleActionHeartbeat"]
    resources = ["arn:${data.aws_partition.current.partition}:autoscaling:*:${data.aws_caller_identity.current.account_id}:autoScalingGroup:*:autoScalingGroupName/${local.asg_name}"]
  }
}

resource "aws_iam_role" "collector" {
  name_prefix        = "${var.name}-collector-"
  assume_role_policy = data.aws_iam_policy_document.assume_ec2.json

  tags = var.tags
}

resource "aws_iam_role_policy" "drain" {
  name   = "complete-drain-hook"
  role   = aws_iam_role.collector.id
  policy = data.aws_iam_policy_document.drain.json
}

resource "aws_iam_role_policy_attachment" "extra" {
  for_each = toset(var.extra_iam_policy_arns)

  role       = aws_iam_role.collector.name
  policy_arn = each.value
}

resource "aws_iam_instance_profile" "collector" {
  name_prefix = "${var.name}-collector-"
  role        = aws_iam_role.collector.name

  tags = var.tags
}

# ---------------------------------------------------------------------------
# Collectors: launch template and Auto Scaling group across the zones
# ---------------------------------------------------------------------------

resource "aws_launch_template" "collector" {
  name_prefix            = "${var.name}-collector-"
  image_id               = var.ami_id
  instance_type          = var.instance_type
  key_name               = var.key_name
  user_data              = base64encode(local.user_data)
  update_default_version = true

  iam_instance_profile {
    arn = aws_iam_instance_profile.collector.arn
  }

  network_interfaces {
    device_index                = 0
    associate_public_ip_address = false
    delete_on_termination       = true
    security_groups             = [aws_security_group.collector.id]
  }

  block_device_mappings {
    device_name = var.root_device_name

    ebs {
      volume_size           = var.root_volume_size_gb
      volume_type           = "gp3"
      encrypted             = true
      delete_on_termination = true
    }
  }

  # IMDSv2 only; the drain watcher reads its lifecycle state from it.
  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  monitoring {
    enabled = true
  }

  tag_specifications {
    resource_type = "instance"
    tags          = merge(var.tags, { Name = "${var.name}-collector" })
  }

  tag_specifications {
    resource_type = "volume"
    tags          = merge(var.tags, { Name = "${var.name}-collector" })
  }

  tags = var.tags
}

resource "aws_autoscaling_group" "collector" {
  name                      = local.asg_name
  min_size                  = var.min_size
  max_size                  = var.max_size
  desired_capacity          = var.desired_capacity
  vpc_zone_identifier       = local.subnet_ids
  target_group_arns         = [local.target_group_arn]
  health_check_type         = "ELB"
  health_check_grace_period = var.health_check_grace_period_seconds

  launch_template {
    id      = aws_launch_template.collector.id
    version = aws_launch_template.collector.latest_version
  }

  instance_refresh {
    strategy = "Rolling"

    preferences {
      min_healthy_percentage = 50
    }
  }

  dynamic "tag" {
    for_each = merge(var.tags, { Name = "${var.name}-collector" })

    content {
      key                 = tag.key
      value               = tag.value
      propagate_at_launch = false
    }
  }

  lifecycle {
    # Scaling owns the size once the group exists.
    ignore_changes = [desired_capacity]
  }
}

# Scale-in drain. The instance waits in Terminating:Wait while its drain
# watcher stops vxcollector (SIGTERM: /healthz answers 503 so the load balancer
# moves away, RX stops, every lane's file is completed) and then completes
# this action; if the watcher never does, the group goes on after the
# heartbeat timeout.
resource "aws_autoscaling_lifecycle_hook" "drain" {
  name                   = local.drain_hook_name
  autoscaling_group_name = aws_autoscaling_group.collector.name
  lifecycle_transition   = "autoscaling:EC2_INSTANCE_TERMINATING"
  heartbeat_timeout      = var.drain_timeout_seconds
  default_result         = "CONTINUE"
}

# Note: a mirror flow never goes idle, so the load balancer keeps each source
# on its collector; new collectors take new sources, and existing ones move
# only when a collector leaves.
resource "aws_autoscaling_policy" "network_in" {
  count = var.target_network_in_bytes == null ? 0 : 1

  name                   = "${var.name}-network-in"
  autoscaling_group_name = aws_autoscaling_group.collector.name
  policy_type            = "TargetTrackingScaling"

  target_tracking_configuration {
    target_value = var.target_network_in_bytes

    predefined_metric_specification {
      predefined_metric_type = "ASGAverageNetworkIn"
    }
  }
}

# ---------------------------------------------------------------------------
# NLB: UDP 4789 listener, collectors receive VXLAN
# ---------------------------------------------------------------------------

resource "aws_lb" "nlb" {
  count = local.is_nlb ? 1 : 0

  name               = "${var.name}-mirror"
  internal           = true
  load_balancer_type = "network"
  subnets            = local.subnet_ids

  # A source in a zone whose collectors are all unhealthy still lands on one.
  enable_cross_zone_load_balancing = true

  tags = var.tags

  lifecycle {
    precondition {
      condition     = length(var.mirror_source_cidrs) > 0
      error_message = "load_balancer_type \"nlb\" needs mirror_source_cidrs: the security group admits VXLAN only from them."
    }
  }
}

# UDP flows through an NLB idle out after 120 s. A mirror flow never idles,
# so a deregistered collector would keep its flows for good: at the end of
# the deregistration delay, connection termination ends them and they hash
# onto a healthy collector.
resource "aws_lb_target_group" "vxlan" {
  count = local.is_nlb ? 1 : 0

  name                   = "${var.name}-vxlan"
  vpc_id                 = var.vpc_id
  target_type            = "instance"
  protocol               = "UDP"
  port                   = 4789
  deregistration_delay   = var.deregistration_delay_seconds
  connection_termination = true

  # One mirror source, one collector: a session's packets stay in one lane's
  # files instead of being spread over the fleet.
  stickiness {
    enabled = true
    type    = "source_ip"
  }

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = var.health_port
    path                = "/healthz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 3
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "vxlan" {
  count = local.is_nlb ? 1 : 0

  load_balancer_arn = aws_lb.nlb[0].arn
  protocol          = "UDP"
  port              = 4789

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.vxlan[0].arn
  }

  tags = var.tags
}

# ---------------------------------------------------------------------------
# GWLB: endpoint service + endpoint, collectors receive GENEVE on 6081
# ---------------------------------------------------------------------------

resource "aws_lb" "gwlb" {
  count = local.is_gwlb ? 1 : 0

  name                             = "${var.name}-mirror"
  load_balancer_type               = "gateway"
  subnets                          = local.subnet_ids
  enable_cross_zone_load_balancing = true

  tags = var.tags
}

resource "aws_lb_target_group" "geneve" {
  count = local.is_gwlb ? 1 : 0

  name                 = "${var.name}-geneve"
  vpc_id               = var.vpc_id
  target_type          = "instance"
  protocol             = "GENEVE"
  port                 = 6081
  deregistration_delay = var.deregistration_delay_seconds

  # Keep each mirror source (outer source/destination pair) on one collector.
  stickiness {
    enabled = true
    type    = "source_ip_dest_ip"
  }

  # Move flows off a collector that leaves or fails instead of black-holing them.
  target_failover {
    on_deregistration = "rebalance"
    on_unhealthy      = "rebalance"
  }

  health_check {
    enabled             = true
    protocol            = "HTTP"
    port                = var.health_port
    path                = "/healthz"
    matcher             = "200"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 3
    unhealthy_threshold = 2
  }

  tags = var.tags
}

resource "aws_lb_listener" "geneve" {
  count = local.is_gwlb ? 1 : 0

  load_balancer_arn = aws_lb.gwlb[0].arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.geneve[0].arn
  }

  tags = var.tags
}

resource "aws_vpc_endpoint_service" "gwlb" {
  count = local.is_gwlb ? 1 : 0

  acceptance_required        = false
  gateway_load_balancer_arns = [aws_lb.gwlb[0].arn]
  allowed_principals         = distinct(concat([local.account_root_arn], var.gwlb_allowed_principals))

  tags = merge(var.tags, { Name = "${var.name}-mirror" })
}

# The mirror target. It normally sits in the production VPC, next to the
# sources, while the collectors stay in their own subnets (or VPC).
resource "aws_vpc_endpoint" "gwlb" {
  count = local.is_gwlb ? 1 : 0

  vpc_id            = coalesce(var.gwlb_endpoint_vpc_id, var.vpc_id)
  service_name      = aws_vpc_endpoint_service.gwlb[0].service_name
  vpc_endpoint_type = "GatewayLoadBalancer"
  subnet_ids        = [var.gwlb_endpoint_subnet_id]

  tags = merge(var.tags, { Name = "${var.name}-mirror" })

  lifecycle {
    precondition {
      condition     = var.gwlb_endpoint_subnet_id != null
      error_message = "load_balancer_type \"gwlb\" needs gwlb_endpoint_subnet_id."
    }
  }
}

# ---------------------------------------------------------------------------
# Traffic Mirroring: target, filter, sessions
# ---------------------------------------------------------------------------

resource "aws_ec2_traffic_mirror_target" "collectors" {
  description                       = "${var.name} collectors (${var.load_balancer_type})"
  network_load_balancer_arn         = one(aws_lb.nlb[*].arn)
  gateway_load_balancer_endpoint_id = one(aws_vpc_endpoint.gwlb[*].id)

  tags = merge(var.tags, { Name = "${var.name}-collectors" })
}

# Deny by default: a Traffic Mirroring filter mirrors only what one of its
# rules accepts. Every rule comes from var.filter_rules (default []); the
# module adds no accept rule of its own.
resource "aws_ec2_traffic_mirror_filter" "this" {
  description      = "${var.name}: mirrors only what filter_rules accept"
  network_services = var.mirror_amazon_dns ? ["amazon-dns"] : []

  tags = merge(var.tags, { Name = "${var.name}-filter" })
}

resource "aws_ec2_traffic_mirror_filter_rule" "this" {
  for_each = { for r in var.filter_rules : "${r.direction}-${r.rule_number}" => r }

  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.this.id
  description              = each.value.description
  traffic_direction        = each.value.direction
  rule_number              = each.value.rule_number
  rule_action              = each.value.action
  protocol                 = each.value.protocol
  source_cidr_block        = each.value.source_cidr_block
  destination_cidr_block   = each.value.destination_cidr_block

  dynamic "source_port_range" {
    for_each = each.value.source_port_range == null ? [] : [each.value.source_port_range]

    content {
      from_port = source_port_range.value.from
      to_port   = source_port_range.value.to
    }
  }

  dynamic "destination_port_range" {
    for_each = each.value.destination_port_range == null ? [] : [each.value.destination_port_range]

    content {
      from_port = destination_port_range.value.from
      to_port   = destination_port_range.value.to
    }
  }
}

resource "aws_ec2_traffic_mirror_session" "this" {
  for_each = toset(var.source_eni_ids)

  description              = "${var.name}: ${each.key}"
  network_interface_id     = each.key
  traffic_mirror_target_id = aws_ec2_traffic_mirror_target.collectors.id
  traffic_mirror_filter_id = aws_ec2_traffic_mirror_filter.this.id
  session_number           = var.session_number
  packet_length            = var.packet_length
  virtual_network_id       = var.virtual_network_id

  tags = merge(var.tags, { Name = "${var.name}-${each.key}" })
}
