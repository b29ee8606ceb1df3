output "traffic_mirror_target_id" {
  description = "ID of the Traffic Mirroring target (the NLB, or the GWLB endpoint). Use it for sessions created outside this module."
  value       = aws_ec2_traffic_mirror_target.collectors.id
}

output "traffic_mirror_filter_id" {
  description = "ID of the Traffic Mirroring filter (deny by default; only filter_rules accept)."
  value       = aws_ec2_traffic_mirror_filter.this.id
}

output "traffic_mirror_session_ids" {
  description = "Traffic Mirroring session ID per source ENI ID."
  value       = { for eni, s in aws_ec2_traffic_mirror_session.this : eni => s.id }
}

output "traffic_mirror_session_vnis" {
  description = "VXLAN VNI per source ENI ID: the collector's lane key (lane vni-<VNI> unless a --lane names it)."
  value       = { for eni, s in aws_ec2_traffic_mirror_session.this : eni => s.virtual_network_id }
}

output "load_balancer_arn" {
  description = "ARN of the NLB or GWLB in front of the collectors."
  value       = local.load_balancer_arn
}

output "load_balancer_dns_name" {
  description = "DNS name of the NLB or GWLB."
  value       = local.load_balancer_dns
}

output "target_group_arn" {
  description = "ARN of the collectors' target group (UDP 4789 for nlb, GENEVE 6081 for gwlb)."
  value       = local.target_group_arn
}

output "gwlb_endpoint_id" {
  description = "ID of the Gateway Load Balancer endpoint (gwlb only, else null)."
  value       = one(aws_vpc_endpoint.gwlb[*].id)
}

output "gwlb_endpoint_service_name" {
  description = "Service name of the collectors' endpoint service, for endpoints in other VPCs or accounts (gwlb only, else null)."
  value       = one(aws_vpc_endpoint_service.gwlb[*].service_name)
}

output "autoscaling_group_name" {
  description = "Name of the collectors' Auto Scaling group."
  value       = aws_autoscaling_group.collector.name
}

output "security_group_id" {
  description = "ID of the collectors' security group."
  value       = aws_security_group.collector.id
}

output "subnet_ids" {
  description = "Collector subnet ID per availability zone."
  value       = { for az, s in aws_subnet.collector : az => s.id }
}

output "route_table_id" {
  description = "ID of the collector subnets' route table (local route, plus 0.0.0.0/0 to the NAT gateway when one is given)."
  value       = aws_route_table.collector.id
}

output "instance_role_name" {
  description = "Name of the collectors' IAM role, for attaching further policies."
  value       = aws_iam_role.collector.name
}

output "mirror_port" {
  description = "UDP port the collectors receive the feed on: 4789 (VXLAN, nlb) or 6081 (GENEVE, gwlb)."
  value       = local.mirror_port
}
