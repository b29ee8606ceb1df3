// Structure tests for terraform/: every .tf file must parse with HashiCorp's
// HCL parser (@cdktf/hcl2json), and the modules must say what the collector
// needs: UDP 4789 / GENEVE 6081 to the fleet, health checks on the
// collector's own /healthz port, deny-by-default mirror filters, at least two
// zones, an internal Standard load balancer with HA ports on Azure.
//
// Not checked here: provider schemas (`terraform validate`), plans, applies.
// Run: cd tests/terraform && npm ci --no-audit --no-fund && node --test

import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';

import {
  TF_ROOT,
  block,
  collectorDefaults,
  expressions,
  formatProblems,
  loadAll,
  modules,
  rel,
  resolveNumber,
  resource,
  templateVariables,
  walk,
} from './lib.mjs';

const AWS = 'modules/aws-mirror-target-fleet';
const AZURE = 'modules/azure-vtap-collector-pool';
const EXAMPLES = ['examples/aws-nlb', 'examples/aws-gwlb', 'examples/azure-vtap'];
const MODULE_FILES = ['main.tf', 'variables.tf', 'outputs.tf', 'versions.tf', 'README.md'];

const defaults = collectorDefaults();

async function mod(dir) {
  const all = await modules();
  const m = all.get(dir);
  assert.ok(m, `no .tf files in terraform/${dir}`);
  return m;
}

function hasTerraform() {
  const r = spawnSync('terraform', ['version'], { encoding: 'utf8' });
  return !r.error && r.status === 0;
}

// --------------------------------------------------------------------------
// Parsing and formatting
// --------------------------------------------------------------------------

test('every .tf file under terraform/ parses, and each module has its files', async () => {
  const all = await loadAll();
  assert.ok(all.length >= 11, `expected the two modules and three examples, found ${all.length} .tf files`);
  const failed = all.filter((f) => f.error).map((f) => `${rel(f.file)}: ${f.error}`);
  assert.deepEqual(failed, [], `files that do not parse:\n${failed.join('\n')}`);
  for (const dir of [AWS, AZURE]) {
    for (const name of MODULE_FILES) {
      assert.ok(fs.existsSync(path.join(TF_ROOT, dir, name)), `terraform/${dir}/${name} is missing`);
    }
  }
  for (const dir of EXAMPLES) assert.ok(fs.existsSync(path.join(TF_ROOT, dir, 'main.tf')), `terraform/${dir}/main.tf is missing`);
});

test('formatting: 2-space indentation, aligned "=", no tabs or trailing whitespace', () => {
  const problems = [];
  for (const file of walk(TF_ROOT)) {
    const text = fs.readFileSync(file, 'utf8');
    if (file.endsWith('.tf')) {
      for (const p of formatProblems(text)) problems.push(`${rel(file)}: ${p}`);
    } else {
      text.split('\n').forEach((line, i) => {
        if (line.includes('\t')) problems.push(`${rel(file)}: line ${i + 1}: tab`);
        if (/[ \t]+$/.test(line)) problems.push(`${rel(file)}: line ${i + 1}: trailing whitespace`);
      });
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('the formatting check rejects what terraform fmt would rewrite', () => {
  const good = [
    'resource "x" "y" {',
    '  a    = 1',
    '  bbbb = "${var.z}-{x}"',
    '',
    '  # a comment breaks an alignment group',
    '  c = [',
    '    1,',
    '  ]',
    '  type = list(object({',
    '    k = string',
    '  }))',
    '  d     = <<-EOT',
    '    free text = here',
    '  EOT',
    '  eeeee = 2',
    '}',
    '',
  ].join('\n');
  assert.deepEqual(formatProblems(good), []);
  const bad = {
    tab: good.replace('  a    = 1', '\ta    = 1'),
    'trailing whitespace': good.replace('  a    = 1', '  a    = 1  '),
    'indented 4 spaces, want 2': good.replace('  a    = 1', '    a  = 1'),
    'aligned group wants': good.replace('  a    = 1', '  a = 1'),
    'want exactly one space': good.replace('    k = string', '    k  = string'),
    'indented 2 spaces, want 4': good.replace('    k = string', '  k = string'),
    'no newline at end of file': good.slice(0, -1),
  };
  for (const [want, text] of Object.entries(bad)) {
    const problems = formatProblems(text);
    assert.ok(problems.some((p) => p.includes(want)), `expected "${want}", got ${JSON.stringify(problems)}`);
  }
});

test('terraform fmt -check passes (when a terraform binary is installed)', (t) => {
  if (!hasTerraform()) {
    t.skip('no terraform binary on PATH');
    return;
  }
  const r = spawnSync('terraform', ['fmt', '-check', '-recursive', '-diff', TF_ROOT], { encoding: 'utf8' });
  assert.equal(r.status, 0, `terraform fmt would change:\n${r.stdout}\n${r.stderr}`);
});

// --------------------------------------------------------------------------
// Conventions every module and example keeps
// --------------------------------------------------------------------------

test('every variable has a description and a type', async () => {
  const missing = [];
  for (const [dir, m] of await modules()) {
    for (const [name, v] of Object.entries(m.variable)) {
      if (typeof v.description !== 'string' || v.description.trim() === '') missing.push(`${dir}: variable ${name}: no description`);
      if (typeof v.type !== 'string' || v.type.trim() === '') missing.push(`${dir}: variable ${name}: no type`);
    }
  }
  assert.deepEqual(missing, [], missing.join('\n'));
});

test('every output has a description', async () => {
  const missing = [];
  let count = 0;
  for (const [dir, m] of await modules()) {
    for (const [name, o] of Object.entries(m.output)) {
      count++;
      if (typeof o.description !== 'string' || o.description.trim() === '') missing.push(`${dir}: output ${name}`);
    }
  }
  assert.ok(count > 0, 'no outputs at all');
  assert.deepEqual(missing, [], `outputs without a description:\n${missing.join('\n')}`);
});

test('every var., local., resource, data and module reference is declared', async () => {
  const all = await modules();
  const problems = [];
  for (const [dir, m] of all) {
    const bodies = { resource: m.resource, data: m.data, output: m.output, module: m.module, locals: m.locals, variable: m.variable, provider: m.provider };
    for (const { path: where, expr } of expressions(bodies)) {
      for (const [, name] of expr.matchAll(/\bvar\.([A-Za-z_][\w-]*)/g)) {
        if (!m.variable[name]) problems.push(`${dir}: ${where}: var.${name} is not declared`);
      }
      for (const [, name] of expr.matchAll(/\blocal\.(\w+)/g)) {
        if (!(name in m.locals)) problems.push(`${dir}: ${where}: local.${name} is not defined`);
      }
      for (const [, type, name] of expr.matchAll(/(?<![\w.])((?:aws|azurerm|azapi)_\w+)\.(\w+)/g)) {
        if (!m.resource[`${type}.${name}`]) problems.push(`${dir}: ${where}: resource ${type}.${name} is not declared`);
      }
      for (const [, type, name] of expr.matchAll(/\bdata\.(\w+)\.(\w+)/g)) {
        if (!m.data[`${type}.${name}`]) problems.push(`${dir}: ${where}: data.${type}.${name} is not declared`);
      }
      for (const [, name, output] of expr.matchAll(/\bmodule\.(\w+)\.(\w+)/g)) {
        const call = m.module[name];
        if (!call) {
          problems.push(`${dir}: ${where}: module.${name} is not declared`);
          continue;
        }
        const target = all.get(path.relative(TF_ROOT, path.resolve(TF_ROOT, dir, call.source)));
        if (target && !target.output[output]) problems.push(`${dir}: ${where}: module.${name} has no output ${output}`);
      }
    }
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

test('each module requires every provider it uses, with a source and a version', async () => {
  const problems = [];
  for (const [dir, m] of await modules()) {
    const required = {};
    for (const t of m.terraform) for (const rp of t.required_providers || []) Object.assign(required, rp);
    const used = new Set([...Object.keys(m.resource), ...Object.keys(m.data)].map((a) => a.split('_')[0]));
    for (const p of used) {
      const r = required[p];
      if (!r) problems.push(`${dir}: uses ${p}_* but has no required_providers.${p}`);
      else if (!r.source || !r.version) problems.push(`${dir}: required_providers.${p} needs source and version`);
    }
    if (!m.terraform.some((t) => typeof t.required_version === 'string')) problems.push(`${dir}: no required_version`);
  }
  assert.deepEqual(problems, [], problems.join('\n'));
});

// Names in the first column of a README section's table: "| `name` | ...".
function readmeTable(readme, heading) {
  const start = readme.indexOf(`\n## ${heading}\n`);
  if (start < 0) return null;
  const rest = readme.slice(start + heading.length + 5);
  const end = rest.search(/\n## /);
  const section = end < 0 ? rest : rest.slice(0, end);
  return [...section.matchAll(/^\| `([\w-]+)` \|/gm)].map((m) => m[1]).sort();
}

test('each module README has an Inputs and an Outputs table matching the module', async () => {
  for (const dir of [AWS, AZURE]) {
    const m = await mod(dir);
    const readme = fs.readFileSync(path.join(TF_ROOT, dir, 'README.md'), 'utf8');
    assert.deepEqual(readmeTable(readme, 'Inputs'), Object.keys(m.variable).sort(), `${dir}/README.md: Inputs table`);
    assert.deepEqual(readmeTable(readme, 'Outputs'), Object.keys(m.output).sort(), `${dir}/README.md: Outputs table`);
  }
});

test('examples call an existing module with its declared inputs and configure its providers', async () => {
  const all = await modules();
  const meta = new Set(['source', 'version', 'providers', 'count', 'for_each', 'depends_on']);
  for (const dir of EXAMPLES) {
    const ex = all.get(dir);
    assert.ok(ex, `terraform/${dir} has no .tf files`);
    const calls = Object.entries(ex.module);
    assert.ok(calls.length >= 1, `${dir}: calls no module`);
    for (const [name, call] of calls) {
      assert.match(call.source, /^\.\.?\//, `${dir}: module ${name}: source should be a local path`);
      const target = path.resolve(TF_ROOT, dir, call.source);
      assert.ok(fs.existsSync(target) && fs.statSync(target).isDirectory(), `${dir}: module ${name}: ${call.source} does not exist`);
      const m = all.get(path.relative(TF_ROOT, target));
      assert.ok(m, `${dir}: module ${name}: ${call.source} holds no .tf files`);

      for (const arg of Object.keys(call)) {
        if (!meta.has(arg)) assert.ok(m.variable[arg], `${dir}: module ${name}: ${call.source} has no variable "${arg}"`);
      }
      for (const [v, decl] of Object.entries(m.variable)) {
        if (!('default' in decl)) assert.ok(v in call, `${dir}: module ${name}: required variable "${v}" not set`);
      }
      for (const t of m.terraform) {
        for (const rp of t.required_providers || []) {
          for (const p of Object.keys(rp)) assert.ok(ex.provider[p], `${dir}: no provider "${p}" block`);
        }
      }
    }
  }
});

// --------------------------------------------------------------------------
// AWS: mirror-target fleet
// --------------------------------------------------------------------------

test('aws: load_balancer_type is "nlb" by default, validated, and selects the resources', async () => {
  const m = await mod(AWS);
  const v = m.variable.load_balancer_type;
  assert.equal(v.default, 'nlb');
  const conditions = (v.validation || []).map((x) => x.condition).join(' ');
  assert.match(conditions, /"nlb"/);
  assert.match(conditions, /"gwlb"/);
  assert.match(m.locals.is_nlb, /var\.load_balancer_type\s*==\s*"nlb"/);
  assert.match(m.locals.is_gwlb, /var\.load_balancer_type\s*==\s*"gwlb"/);
  for (const a of ['aws_lb.nlb', 'aws_lb_target_group.vxlan', 'aws_lb_listener.vxlan']) {
    assert.equal(resource(m, a).count, '${local.is_nlb ? 1 : 0}', `${a} count`);
  }
  for (const a of ['aws_lb.gwlb', 'aws_lb_target_group.geneve', 'aws_lb_listener.geneve', 'aws_vpc_endpoint_service.gwlb', 'aws_vpc_endpoint.gwlb']) {
    assert.equal(resource(m, a).count, '${local.is_gwlb ? 1 : 0}', `${a} count`);
  }
});

test('aws nlb: internal, cross-zone, UDP listener and target group on the collector VXLAN port', async () => {
  const m = await mod(AWS);
  const lb = resource(m, 'aws_lb.nlb');
  assert.equal(lb.load_balancer_type, 'network');
  assert.equal(lb.internal, true);
  assert.equal(lb.enable_cross_zone_load_balancing, true);

  const listener = resource(m, 'aws_lb_listener.vxlan');
  assert.equal(listener.protocol, 'UDP');
  assert.equal(listener.port, defaults.vxlanPort);
  assert.match(listener.load_balancer_arn, /aws_lb\.nlb\[0\]\.arn/);
  assert.match(block(listener, 'default_action', 'listener').target_group_arn, /aws_lb_target_group\.vxlan\[0\]\.arn/);

  const tg = resource(m, 'aws_lb_target_group.vxlan');
  assert.equal(tg.protocol, 'UDP');
  assert.equal(tg.port, defaults.vxlanPort);
  assert.equal(tg.connection_termination, true, 'UDP flows must move off a deregistered collector');
  assert.ok(resolveNumber(m, tg.deregistration_delay, 'deregistration_delay') <= 300);
  const sticky = block(tg, 'stickiness', 'aws_lb_target_group.vxlan');
  assert.equal(sticky.enabled, true);
  assert.equal(sticky.type, 'source_ip');

  const hc = block(tg, 'health_check', 'aws_lb_target_group.vxlan');
  assert.equal(resolveNumber(m, hc.port, 'health_check.port'), defaults.healthPort, 'health check port != collector http_listen default');
  assert.ok(['TCP', 'HTTP'].includes(hc.protocol), `health check protocol ${hc.protocol}`);
  if (hc.protocol === 'HTTP') {
    assert.equal(hc.path, '/healthz');
    assert.equal(hc.matcher, '200', '/healthz answers 503 while draining; only 200 is healthy');
  }
});

test('aws gwlb: gateway load balancer, GENEVE target group, endpoint service and endpoint', async () => {
  const m = await mod(AWS);
  const lb = resource(m, 'aws_lb.gwlb');
  assert.equal(lb.load_balancer_type, 'gateway');
  assert.equal(lb.enable_cross_zone_load_balancing, true);

  const tg = resource(m, 'aws_lb_target_group.geneve');
  assert.equal(tg.protocol, 'GENEVE');
  assert.equal(tg.port, defaults.genevePort);
  const hc = block(tg, 'health_check', 'aws_lb_target_group.geneve');
  assert.equal(hc.protocol, 'HTTP');
  assert.equal(hc.path, '/healthz');
  assert.equal(resolveNumber(m, hc.port, 'health_check.port'), defaults.healthPort);

  const listener = resource(m, 'aws_lb_listener.geneve');
  assert.match(listener.load_balancer_arn, /aws_lb\.gwlb\[0\]\.arn/);
  assert.equal(listener.port, undefined, 'a GWLB listener takes no port');

  const service = resource(m, 'aws_vpc_endpoint_service.gwlb');
  assert.deepEqual(service.gateway_load_balancer_arns, ['${aws_lb.gwlb[0].arn}']);
  const endpoint = resource(m, 'aws_vpc_endpoint.gwlb');
  assert.equal(endpoint.vpc_endpoint_type, 'GatewayLoadBalancer');
  assert.match(endpoint.service_name, /aws_vpc_endpoint_service\.gwlb\[0\]\.service_name/);
});

test('aws: the mirror target is the NLB or the GWLB endpoint', async () => {
  const m = await mod(AWS);
  const target = resource(m, 'aws_ec2_traffic_mirror_target.collectors');
  assert.match(target.network_load_balancer_arn, /aws_lb\.nlb\b/);
  assert.match(target.gateway_load_balancer_endpoint_id, /aws_vpc_endpoint\.gwlb\b/);
  assert.equal(target.network_interface_id, undefined);
});

test('aws: the mirror filter denies by default (rules only from var.filter_rules, default [])', async () => {
  const m = await mod(AWS);
  assert.deepEqual(m.variable.filter_rules.default, [], 'filter_rules must default to [] (mirror nothing)');
  assert.equal(m.variable.mirror_amazon_dns.default, false);

  const filter = resource(m, 'aws_ec2_traffic_mirror_filter.this');
  assert.deepEqual(Object.keys(filter).filter((k) => /rule/.test(k)), [], 'no inline rules on the filter');

  const rules = Object.entries(m.resource).filter(([a]) => a.startsWith('aws_ec2_traffic_mirror_filter_rule.'));
  assert.equal(rules.length, 1, 'exactly one filter rule resource, driven by the variable');
  const [, rule] = rules[0];
  assert.match(rule.for_each, /var\.filter_rules/);
  assert.equal(rule.rule_action, '${each.value.action}', 'the rule action must come from the variable, never a literal accept');
  assert.match(rule.traffic_mirror_filter_id, /aws_ec2_traffic_mirror_filter\.this\.id/);
});

test('aws: one mirror session per source ENI, 128-byte packets, VNI from the variable', async () => {
  const m = await mod(AWS);
  const s = resource(m, 'aws_ec2_traffic_mirror_session.this');
  assert.match(s.for_each, /var\.source_eni_ids/);
  assert.equal(s.network_interface_id, '${each.key}');
  assert.equal(s.packet_length, '${var.packet_length}');
  assert.equal(m.variable.packet_length.default, 128);
  assert.equal(s.virtual_network_id, '${var.virtual_network_id}');
  assert.equal(m.variable.virtual_network_id.default, null, 'null lets AWS pick a VNI per session');
  assert.equal(s.session_number, '${var.session_number}');
  assert.match(s.traffic_mirror_target_id, /aws_ec2_traffic_mirror_target\.collectors\.id/);
  assert.match(s.traffic_mirror_filter_id, /aws_ec2_traffic_mirror_filter\.this\.id/);
});

test('aws: Auto Scaling group across at least two zones, with a termination drain hook', async () => {
  const m = await mod(AWS);
  const subnets = m.variable.collector_subnets;
  const conditions = (subnets.validation || []).map((v) => v.condition);
  assert.ok(conditions.some((c) => /length\(var\.collector_subnets\)\s*>=\s*2/.test(c)), 'collector_subnets must be validated to >= 2');
  assert.ok(conditions.some((c) => /distinct\(.*availability_zone/.test(c)), 'collector subnets must be in distinct zones');
  assert.ok(m.variable.min_size.default >= 2);

  const subnet = resource(m, 'aws_subnet.collector');
  assert.equal(subnet.for_each, '${local.subnets_by_az}');
  assert.equal(subnet.map_public_ip_on_launch, false);

  const asg = resource(m, 'aws_autoscaling_group.collector');
  assert.equal(asg.vpc_zone_identifier, '${local.subnet_ids}');
  assert.match(m.locals.subnet_ids, /aws_subnet\.collector/);
  assert.equal(asg.health_check_type, 'ELB');
  assert.deepEqual(asg.target_group_arns, ['${local.target_group_arn}']);
  assert.match(block(asg, 'launch_template', 'asg').id, /aws_launch_template\.collector\.id/);

  const hook = resource(m, 'aws_autoscaling_lifecycle_hook.drain');
  assert.equal(hook.lifecycle_transition, 'autoscaling:EC2_INSTANCE_TERMINATING');
  assert.equal(resolveNumber(m, hook.heartbeat_timeout, 'heartbeat_timeout'), 300);
  assert.equal(hook.default_result, 'CONTINUE');
  assert.match(hook.autoscaling_group_name, /aws_autoscaling_group\.collector\.name/);
  assert.equal(hook.name, '${local.drain_hook_name}', 'the drain watcher in the user data completes this hook by name');
});

test('aws: collector subnets have their own route table with no route but NAT', async () => {
  const m = await mod(AWS);
  const rt = resource(m, 'aws_route_table.collector');
  assert.equal(rt.route, undefined, 'no inline routes on the collector route table');
  const routes = Object.entries(m.resource).filter(([a]) => a.startsWith('aws_route.'));
  assert.deepEqual(routes.map(([a]) => a), ['aws_route.nat']);
  const nat = routes[0][1];
  assert.equal(nat.count, '${var.nat_gateway_id == null ? 0 : 1}');
  assert.equal(nat.nat_gateway_id, '${var.nat_gateway_id}');
  assert.equal(m.variable.nat_gateway_id.default, null);
  for (const k of ['gateway_id', 'vpc_peering_connection_id', 'transit_gateway_id', 'network_interface_id']) {
    assert.equal(nat[k], undefined, `aws_route.nat must not set ${k}`);
  }
  const assoc = resource(m, 'aws_route_table_association.collector');
  assert.equal(assoc.for_each, '${aws_subnet.collector}');
  assert.match(assoc.route_table_id, /aws_route_table\.collector\.id/);
  for (const a of Object.keys(m.resource)) {
    assert.ok(!/^aws_(vpc_peering_connection|ec2_transit_gateway|internet_gateway)/.test(a), `${a} would connect the collectors`);
  }
});

test('aws: the security group admits only the mirror feed and health checks', async () => {
  const m = await mod(AWS);
  const ingress = Object.entries(m.resource).filter(([a]) => a.startsWith('aws_vpc_security_group_ingress_rule.'));
  assert.deepEqual(ingress.map(([a]) => a).sort(), ['aws_vpc_security_group_ingress_rule.health', 'aws_vpc_security_group_ingress_rule.mirror']);
  assert.equal(Object.keys(m.resource).filter((a) => a.startsWith('aws_security_group_rule.')).length, 0);
  const sg = resource(m, 'aws_security_group.collector');
  assert.equal(sg.ingress, undefined, 'no inline ingress rules');

  const mirror = resource(m, 'aws_vpc_security_group_ingress_rule.mirror');
  assert.equal(mirror.ip_protocol, 'udp');
  assert.equal(mirror.from_port, '${local.mirror_port}');
  assert.equal(mirror.to_port, '${local.mirror_port}');
  assert.equal(m.locals.mirror_port, `\${local.is_nlb ? ${defaults.vxlanPort} : ${defaults.genevePort}}`);
  assert.match(mirror.for_each, /local\.mirror_ingress_cidrs/);
  assert.match(m.locals.mirror_ingress_cidrs, /var\.mirror_source_cidrs/);
  assert.deepEqual(m.variable.mirror_source_cidrs.default, []);

  const health = resource(m, 'aws_vpc_security_group_ingress_rule.health');
  assert.equal(health.ip_protocol, 'tcp');
  assert.equal(resolveNumber(m, health.from_port, 'from_port'), defaults.healthPort);
  assert.equal(resolveNumber(m, health.to_port, 'to_port'), defaults.healthPort);
  assert.match(health.cidr_ipv4, /data\.aws_vpc\.this\.cidr_block/);

  for (const [a, r] of ingress) assert.notEqual(r.cidr_ipv4, '0.0.0.0/0', `${a} open to the world`);
  assert.equal(m.variable.health_port.default, defaults.healthPort);
});

test('aws: user data renders a cloud-init template through templatefile()', async () => {
  const m = await mod(AWS);
  assert.match(m.locals.user_data, /templatefile\(coalesce\(var\.cloud_init_path, "\$\{path\.module\}\/templates\/cloud-init\.yaml\.tftpl"\), local\.cloud_init_vars\)/);
  assert.equal(m.variable.cloud_init_path.default, null);
  const lt = resource(m, 'aws_launch_template.collector');
  assert.equal(lt.user_data, '${base64encode(local.user_data)}');
  assert.equal(lt.image_id, '${var.ami_id}');
  assert.equal(lt.instance_type, '${var.instance_type}');
  assert.equal(lt.key_name, '${var.key_name}');
  assert.equal(block(lt, 'metadata_options', 'launch template').http_tokens, 'required');
});

// --------------------------------------------------------------------------
// Azure: VTAP collector pool
// --------------------------------------------------------------------------

test('azure: scale set with accelerated networking, at least two instances over zones', async () => {
  const m = await mod(AZURE);
  const vmss = resource(m, 'azurerm_linux_virtual_machine_scale_set.collector');
  const nic = block(vmss, 'network_interface', 'vmss');
  assert.equal(nic.enable_accelerated_networking, true);
  assert.match(nic.network_security_group_id, /azurerm_network_security_group\.collector\.id/);
  const ipc = block(nic, 'ip_configuration', 'vmss nic');
  assert.deepEqual(ipc.load_balancer_backend_address_pool_ids, ['${azurerm_lb_backend_address_pool.collector.id}']);

  assert.equal(vmss.instances, '${var.instances}');
  assert.ok(m.variable.instances.default >= 2);
  assert.ok(m.variable.instances.validation.some((v) => /var\.instances\s*>=\s*2/.test(v.condition)));
  assert.equal(vmss.zones, '${var.zones}');
  assert.ok(m.variable.zones.default.length >= 2);
  assert.ok(m.variable.zones.validation.some((v) => /length\(var\.zones\)\s*>=\s*2/.test(v.condition)));
  assert.equal(vmss.zone_balance, true);
  assert.equal(vmss.custom_data, '${base64encode(local.custom_data)}');
  assert.match(m.locals.custom_data, /templatefile\(coalesce\(var\.cloud_init_path,/);
  assert.equal(block(vmss, 'termination_notification', 'vmss').enabled, true);
});

test('azure: internal Standard load balancer, /healthz probe on the collector port, HA ports by default', async () => {
  const m = await mod(AZURE);
  const lb = resource(m, 'azurerm_lb.collector');
  assert.equal(lb.sku, 'Standard');
  const fe = block(lb, 'frontend_ip_configuration', 'azurerm_lb');
  assert.equal(fe.subnet_id, '${var.subnet_id}', 'private frontend in the collector subnet');
  assert.equal(fe.public_ip_address_id, undefined, 'no public frontend');

  const probe = resource(m, 'azurerm_lb_probe.healthz');
  assert.equal(resolveNumber(m, probe.port, 'probe.port'), defaults.healthPort);
  assert.ok(['Tcp', 'Http'].includes(probe.protocol));
  if (probe.protocol === 'Http') assert.equal(probe.request_path, '/healthz');

  assert.equal(m.variable.lb_rule.default, 'ha-ports');
  assert.match(m.locals.ha_ports, /var\.lb_rule\s*==\s*"ha-ports"/);
  const ha = resource(m, 'azurerm_lb_rule.ha_ports');
  assert.equal(ha.count, '${local.ha_ports ? 1 : 0}');
  assert.equal(ha.protocol, 'All');
  assert.equal(ha.frontend_port, 0);
  assert.equal(ha.backend_port, 0);
  const udp = resource(m, 'azurerm_lb_rule.vxlan');
  assert.equal(udp.count, '${local.ha_ports ? 0 : 1}');
  assert.equal(udp.protocol, 'Udp');
  assert.equal(udp.frontend_port, defaults.vxlanPort);
  assert.equal(udp.backend_port, defaults.vxlanPort);
  for (const r of [ha, udp]) {
    assert.match(r.probe_id, /azurerm_lb_probe\.healthz\.id/);
    assert.equal(r.load_distribution, 'SourceIP');
  }
});

test('azure: VTAP and per-NIC tap configurations through azapi', async () => {
  const m = await mod(AZURE);
  const vtap = resource(m, 'azapi_resource.vtap');
  assert.match(vtap.type, /^Microsoft\.Network\/virtualNetworkTaps@\d{4}-\d{2}-\d{2}(-preview)?$/);
  const props = vtap.body.properties;
  assert.match(props.destinationLoadBalancerFrontEndIPConfiguration.id, /azurerm_lb\.collector\.frontend_ip_configuration\[0\]\.id/);
  assert.equal(props.destinationPort, defaults.vxlanPort);

  const tap = resource(m, 'azapi_resource.tap_configuration');
  assert.match(tap.type, /^Microsoft\.Network\/networkInterfaces\/tapConfigurations@\d{4}-\d{2}-\d{2}(-preview)?$/);
  assert.match(tap.for_each, /var\.source_nic_ids/);
  assert.equal(tap.parent_id, '${each.value}');
  assert.equal(tap.body.properties.virtualNetworkTap.id, '${azapi_resource.vtap.id}');
  assert.deepEqual(m.variable.source_nic_ids.default, []);
});

test('azure: NSG admits VXLAN from the network and probes from AzureLoadBalancer, denies the rest', async () => {
  const m = await mod(AZURE);
  const rules = Object.fromEntries(
    Object.entries(m.resource).filter(([a]) => a.startsWith('azurerm_network_security_rule.')).map(([a, r]) => [a.split('.')[1], r]),
  );
  const nsg = resource(m, 'azurerm_network_security_group.collector');
  assert.equal(nsg.security_rule, undefined, 'rules are separate resources, not inline');

  const vxlan = rules.vxlan;
  assert.ok(vxlan, 'no VXLAN rule');
  assert.deepEqual([vxlan.direction, vxlan.access, vxlan.protocol], ['Inbound', 'Allow', 'Udp']);
  assert.equal(Number(vxlan.destination_port_range), defaults.vxlanPort);
  assert.equal(vxlan.source_address_prefix, '${var.mirror_source_address_prefix}');
  assert.equal(m.variable.mirror_source_address_prefix.default, 'VirtualNetwork');

  const probe = rules.health_probe;
  assert.ok(probe, 'no health probe rule');
  assert.deepEqual([probe.direction, probe.access, probe.protocol], ['Inbound', 'Allow', 'Tcp']);
  assert.equal(probe.source_address_prefix, 'AzureLoadBalancer');
  assert.equal(probe.destination_port_range, '${tostring(var.health_port)}');
  assert.equal(m.variable.health_port.default, defaults.healthPort);

  const deny = rules.deny_other_inbound;
  assert.ok(deny, 'no final deny rule');
  assert.deepEqual([deny.direction, deny.access, deny.protocol, deny.source_address_prefix], ['Inbound', 'Deny', '*', '*']);
  for (const [name, r] of Object.entries(rules)) {
    if (name === 'deny_other_inbound') continue;
    assert.ok(r.priority < deny.priority, `${name} must come before the deny`);
    assert.equal(r.access, 'Allow');
  }
});

// --------------------------------------------------------------------------
// Cloud-init templates
// --------------------------------------------------------------------------

for (const dir of [AWS, AZURE]) {
  test(`${dir}: the cloud-init template uses only variables the module passes`, async () => {
    const m = await mod(dir);
    const passed = new Set(Object.keys(m.locals.cloud_init_vars));
    const text = fs.readFileSync(path.join(TF_ROOT, dir, 'templates', 'cloud-init.yaml.tftpl'), 'utf8');
    assert.match(text, /^#cloud-config\n/);
    const used = templateVariables(text);
    assert.ok(used.has('health_port'), 'the template must take the health port');
    for (const name of used) assert.ok(passed.has(name), `template uses ${name}, which cloud_init_vars does not pass`);
    assert.match(text, /--http-listen 0\.0\.0\.0:\$\{health_port\}/);
  });
}

test('cloud-init templates render with terraform (when a terraform binary is installed)', (t) => {
  if (!hasTerraform()) {
    t.skip('no terraform binary on PATH');
    return;
  }
  for (const dir of [AWS, AZURE]) {
    const file = path.join(TF_ROOT, dir, 'templates', 'cloud-init.yaml.tftpl');
    const vars = `{ asg_name = "vxc-collectors", drain_hook_name = "vxc-drain", health_port = ${defaults.healthPort}, collector_args = "--snaplen 128 -- -l 0-1", source_git_url = "https://git.example.net/vxcollector.git", source_git_ref = "main", stop_timeout_seconds = 270 }`;
    // terraform console needs no providers when run in an empty directory.
    const cwd = fs.mkdtempSync(path.join(fs.realpathSync(process.env.TMPDIR || '/tmp'), 'tf-console-'));
    try {
      const r = spawnSync('terraform', ['console'], { cwd, input: `templatefile(${JSON.stringify(file)}, ${vars})\n`, encoding: 'utf8' });
      assert.equal(r.status, 0, `${dir}: ${r.stderr}`);
      const out = r.stdout;
      assert.match(out, /#cloud-config/);
      assert.match(out, new RegExp(`ExecStart=/usr/local/bin/vxcollector --http-listen 0\\.0\\.0\\.0:${defaults.healthPort} --snaplen 128`));
      assert.match(out, /git clone --depth 1 --branch 'main' 'https:\/\/git\.example\.net\/vxcollector\.git'/);
      assert.match(out, /systemctl, enable, --now, vxcollector\.service, vxcollector-drain-watch\.service/);
      assert.doesNotMatch(out, /%\{/, 'a template directive was left unrendered');
    } finally {
      fs.rmSync(cwd, { recursive: true, force: true });
    }
  }
});
