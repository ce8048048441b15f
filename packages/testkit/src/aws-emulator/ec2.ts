import type {
  Ec2SecurityGroup,
  Ec2Subnet,
  Ec2Tag,
  Ec2Vpc,
  ModelObject,
  ModelValue,
  SeedSecurityGroupInput,
  SeedSubnetInput,
  SeedVpcInput,
} from './types.js';
import { AwsError, randomHex } from './util.js';

interface Filter {
  name: string;
  values: string[];
}

function globToRegExp(glob: string): RegExp {
  const body = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}

function readFilters(input: ModelObject): Filter[] {
  const raw = input.Filters;
  if (!Array.isArray(raw)) return [];
  return raw.map((f) => {
    const o = f as ModelObject;
    const values = Array.isArray(o.Values) ? o.Values.map(String) : [];
    return { name: String(o.Name ?? ''), values };
  });
}

type FilterFields = (filter: string) => string[] | null;

/** EC2 filter semantics: OR within a filter's values (with `*`/`?` wildcards), AND across filters. */
function applyFilters<T>(items: T[], filters: Filter[], fields: (item: T) => FilterFields): T[] {
  return items.filter((item) =>
    filters.every((f) => {
      const got = fields(item)(f.name) ?? [];
      return f.values.some((v) => {
        const re = globToRegExp(v);
        return got.some((g) => re.test(g));
      });
    }),
  );
}

function tagFields(tags: Ec2Tag[], filter: string): string[] | null {
  if (filter === 'tag-key') return tags.map((t) => t.Key);
  if (filter === 'tag-value') return tags.map((t) => t.Value);
  if (filter.startsWith('tag:')) {
    const key = filter.slice(4);
    return tags.filter((t) => t.Key === key).map((t) => t.Value);
  }
  return null;
}

function checkFilterNames(filters: Filter[], known: Set<string>): void {
  for (const f of filters) {
    if (!known.has(f.name) && !f.name.startsWith('tag:')) {
      throw new AwsError('InvalidParameterValue', `The filter '${f.name}' is invalid`);
    }
  }
}

function paginate<T>(items: T[], input: ModelObject): { page: T[]; next?: string } {
  const max = typeof input.MaxResults === 'number' ? input.MaxResults : undefined;
  let start = 0;
  if (typeof input.NextToken === 'string') {
    const n = Number(Buffer.from(input.NextToken, 'base64').toString('utf8'));
    if (!Number.isInteger(n) || n < 0) throw new AwsError('InvalidNextToken', 'The token is invalid.');
    start = n;
  }
  if (max === undefined) return { page: items.slice(start) };
  if (max < 5 || max > 1000) {
    throw new AwsError(
      'InvalidParameterValue',
      `Value ( ${max} ) for parameter maxResults is invalid. Expecting a value between 5 and 1000.`,
    );
  }
  const page = items.slice(start, start + max);
  const end = start + page.length;
  return end < items.length ? { page, next: Buffer.from(String(end)).toString('base64') } : { page };
}

function tagsOut(tags: Ec2Tag[]): ModelValue[] {
  return tags.map((t) => ({ Key: t.Key, Value: t.Value }));
}

const AZ_IDS = ['use1-az1', 'use1-az2', 'use1-az4', 'use1-az6', 'use1-az3', 'use1-az5'];

export class Ec2Store {
  readonly vpcs = new Map<string, Ec2Vpc>();
  readonly subnets = new Map<string, Ec2Subnet>();
  readonly securityGroups = new Map<string, Ec2SecurityGroup>();
  private subnetCounter = 0;

  constructor(
    private readonly rng: () => number,
    private readonly region: string,
    private readonly accountId: string,
  ) {
    const vpc = this.seedVpc({ isDefault: true, cidrBlock: '172.31.0.0/16' });
    this.seedSubnet({
      vpcId: vpc.VpcId,
      cidrBlock: '172.31.0.0/20',
      availabilityZone: `${region}a`,
      defaultForAz: true,
      mapPublicIpOnLaunch: true,
    });
    this.seedSubnet({
      vpcId: vpc.VpcId,
      cidrBlock: '172.31.16.0/20',
      availabilityZone: `${region}b`,
      defaultForAz: true,
      mapPublicIpOnLaunch: true,
    });
  }

  private id(prefix: string): string {
    return `${prefix}-${randomHex(this.rng, 17)}`;
  }

  /**
   * A seeded id must be one the Describe* handlers accept (`<prefix>-` and 8 or 17 hex digits, as EC2 checks):
   * otherwise the resource exists but every lookup by id answers `Invalid*ID.Malformed`, which looks like a bug
   * in the code under test.
   */
  private seededId(prefix: 'vpc' | 'subnet' | 'sg', given: string | undefined, what: string): string {
    if (given === undefined) return this.id(prefix);
    if (!new RegExp(`^${prefix}-[0-9a-f]{8,17}$`).test(given)) {
      throw new Error(
        `Cannot seed ${what} '${given}': EC2 ids are '${prefix}-' followed by 8 or 17 lowercase hex digits, and lookups by this id would answer Malformed.`,
      );
    }
    return given;
  }

  seedVpc(input: SeedVpcInput = {}): Ec2Vpc {
    if (input.isDefault && this.defaultVpcId() !== null) {
      throw new AwsError(
        'DefaultVpcAlreadyExists',
        'A Default VPC already exists for this account in this region.',
      );
    }
    const vpc: Ec2Vpc = {
      VpcId: this.seededId('vpc', input.vpcId, 'a VPC'),
      CidrBlock: input.cidrBlock ?? `10.${this.vpcs.size % 256}.0.0/16`,
      IsDefault: input.isDefault ?? false,
      State: 'available',
      OwnerId: this.accountId,
      Tags: input.tags ?? [],
    };
    this.vpcs.set(vpc.VpcId, vpc);
    this.seedSecurityGroup({
      vpcId: vpc.VpcId,
      groupName: 'default',
      description: 'default VPC security group',
    });
    return vpc;
  }

  seedSubnet(input: SeedSubnetInput): Ec2Subnet {
    const vpc = this.vpcs.get(input.vpcId);
    if (!vpc) throw new AwsError('InvalidVpcID.NotFound', `The vpc ID '${input.vpcId}' does not exist`);
    const n = this.subnetCounter++;
    const az = input.availabilityZone ?? `${this.region}${'abcdef'[n % 6]}`;
    const azIndex = Math.max(0, 'abcdef'.indexOf(az.slice(-1)));
    const subnetId = this.seededId('subnet', input.subnetId, 'a subnet');
    const subnet: Ec2Subnet = {
      SubnetId: subnetId,
      SubnetArn: `arn:aws:ec2:${this.region}:${this.accountId}:subnet/${subnetId}`,
      VpcId: vpc.VpcId,
      CidrBlock: input.cidrBlock ?? `10.0.${(n * 16) % 256}.0/20`,
      AvailabilityZone: az,
      AvailabilityZoneId:
        this.region === 'us-east-1' ? (AZ_IDS[azIndex] ?? 'use1-az1') : `${this.region}-az${azIndex + 1}`,
      DefaultForAz: input.defaultForAz ?? false,
      MapPublicIpOnLaunch: input.mapPublicIpOnLaunch ?? false,
      AvailableIpAddressCount: 4091,
      State: 'available',
      OwnerId: this.accountId,
      Tags: input.tags ?? [],
    };
    this.subnets.set(subnet.SubnetId, subnet);
    return subnet;
  }

  seedSecurityGroup(input: SeedSecurityGroupInput): Ec2SecurityGroup {
    if (!this.vpcs.has(input.vpcId))
      throw new AwsError('InvalidVpcID.NotFound', `The vpc ID '${input.vpcId}' does not exist`);
    for (const g of this.securityGroups.values()) {
      if (g.VpcId === input.vpcId && g.GroupName === input.groupName) {
        throw new AwsError(
          'InvalidGroup.Duplicate',
          `The security group '${input.groupName}' already exists for VPC '${input.vpcId}'`,
        );
      }
    }
    const group: Ec2SecurityGroup = {
      GroupId: this.seededId('sg', input.groupId, 'a security group'),
      GroupName: input.groupName,
      Description: input.description ?? input.groupName,
      VpcId: input.vpcId,
      OwnerId: this.accountId,
      Tags: input.tags ?? [],
    };
    this.securityGroups.set(group.GroupId, group);
    return group;
  }

  defaultVpcId(): string | null {
    for (const v of this.vpcs.values()) if (v.IsDefault) return v.VpcId;
    return null;
  }

  removeDefaultVpc(): void {
    const id = this.defaultVpcId();
    if (id === null) return;
    this.vpcs.delete(id);
    for (const [k, s] of this.subnets) if (s.VpcId === id) this.subnets.delete(k);
    for (const [k, g] of this.securityGroups) if (g.VpcId === id) this.securityGroups.delete(k);
  }

  // ------------------------------------------------------------------------------------------ handlers

  describeVpcs(input: ModelObject): ModelObject {
    const filters = readFilters(input);
    checkFilterNames(
      filters,
      new Set([
        'isDefault',
        'is-default',
        'vpc-id',
        'state',
        'cidr',
        'cidr-block-association.cidr-block',
        'owner-id',
        'tag-key',
        'tag-value',
      ]),
    );
    let items = [...this.vpcs.values()];
    if (Array.isArray(input.VpcIds)) {
      const ids = input.VpcIds.map(String);
      for (const id of ids) {
        if (!/^vpc-[0-9a-f]{8,17}$/.test(id))
          throw new AwsError('InvalidVpcID.Malformed', `Invalid id: "${id}"`);
        if (!this.vpcs.has(id))
          throw new AwsError('InvalidVpcID.NotFound', `The vpc ID '${id}' does not exist`);
      }
      items = items.filter((v) => ids.includes(v.VpcId));
    }
    items = applyFilters(items, filters, (v) => (f) => {
      switch (f) {
        case 'isDefault':
        case 'is-default':
          return [String(v.IsDefault)];
        case 'vpc-id':
          return [v.VpcId];
        case 'state':
          return [v.State];
        case 'cidr':
        case 'cidr-block-association.cidr-block':
          return [v.CidrBlock];
        case 'owner-id':
          return [v.OwnerId];
        default:
          return tagFields(v.Tags, f);
      }
    });
    const { page, next } = paginate(items, input);
    const out: ModelObject = {
      Vpcs: page.map((v) => ({
        CidrBlock: v.CidrBlock,
        DhcpOptionsId: 'dopt-0123456789abcdef0',
        State: v.State,
        VpcId: v.VpcId,
        OwnerId: v.OwnerId,
        InstanceTenancy: 'default',
        CidrBlockAssociationSet: [
          {
            AssociationId: `vpc-cidr-assoc-${v.VpcId.slice(4)}`,
            CidrBlock: v.CidrBlock,
            CidrBlockState: { State: 'associated' },
          },
        ],
        IsDefault: v.IsDefault,
        ...(v.Tags.length > 0 ? { Tags: tagsOut(v.Tags) } : {}),
      })),
    };
    if (next !== undefined) out.NextToken = next;
    return out;
  }

  describeSubnets(input: ModelObject): ModelObject {
    const filters = readFilters(input);
    checkFilterNames(
      filters,
      new Set([
        'vpc-id',
        'subnet-id',
        'default-for-az',
        'defaultForAz',
        'availability-zone',
        'availabilityZone',
        'availability-zone-id',
        'state',
        'cidr-block',
        'map-public-ip-on-launch',
        'owner-id',
        'tag-key',
        'tag-value',
      ]),
    );
    let items = [...this.subnets.values()];
    if (Array.isArray(input.SubnetIds)) {
      const ids = input.SubnetIds.map(String);
      for (const id of ids) {
        if (!/^subnet-[0-9a-f]{8,17}$/.test(id))
          throw new AwsError('InvalidSubnetID.Malformed', `Invalid id: "${id}"`);
        if (!this.subnets.has(id))
          throw new AwsError('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`);
      }
      items = items.filter((s) => ids.includes(s.SubnetId));
    }
    items = applyFilters(items, filters, (s) => (f) => {
      switch (f) {
        case 'vpc-id':
          return [s.VpcId];
        case 'subnet-id':
          return [s.SubnetId];
        case 'default-for-az':
        case 'defaultForAz':
          return [String(s.DefaultForAz)];
        case 'availability-zone':
        case 'availabilityZone':
          return [s.AvailabilityZone];
        case 'availability-zone-id':
          return [s.AvailabilityZoneId];
        case 'state':
          return [s.State];
        case 'cidr-block':
          return [s.CidrBlock];
        case 'map-public-ip-on-launch':
          return [String(s.MapPublicIpOnLaunch)];
        case 'owner-id':
          return [s.OwnerId];
        default:
          return tagFields(s.Tags, f);
      }
    });
    const { page, next } = paginate(items, input);
    const out: ModelObject = {
      Subnets: page.map((s) => ({
        AvailabilityZone: s.AvailabilityZone,
        AvailabilityZoneId: s.AvailabilityZoneId,
        AvailableIpAddressCount: s.AvailableIpAddressCount,
        CidrBlock: s.CidrBlock,
        DefaultForAz: s.DefaultForAz,
        MapPublicIpOnLaunch: s.MapPublicIpOnLaunch,
        MapCustomerOwnedIpOnLaunch: false,
        State: s.State,
        SubnetId: s.SubnetId,
        VpcId: s.VpcId,
        OwnerId: s.OwnerId,
        AssignIpv6AddressOnCreation: false,
        Ipv6CidrBlockAssociationSet: [],
        SubnetArn: s.SubnetArn,
        EnableDns64: false,
        Ipv6Native: false,
        PrivateDnsNameOptionsOnLaunch: {
          HostnameType: 'ip-name',
          EnableResourceNameDnsARecord: false,
          EnableResourceNameDnsAAAARecord: false,
        },
        ...(s.Tags.length > 0 ? { Tags: tagsOut(s.Tags) } : {}),
      })),
    };
    if (next !== undefined) out.NextToken = next;
    return out;
  }

  describeSecurityGroups(input: ModelObject): ModelObject {
    const filters = readFilters(input);
    checkFilterNames(
      filters,
      new Set(['vpc-id', 'group-name', 'group-id', 'description', 'owner-id', 'tag-key', 'tag-value']),
    );
    let items = [...this.securityGroups.values()];
    if (Array.isArray(input.GroupIds)) {
      const ids = input.GroupIds.map(String);
      for (const id of ids) {
        if (!/^sg-[0-9a-f]{8,17}$/.test(id))
          throw new AwsError('InvalidGroupId.Malformed', `Invalid id: "${id}" (expecting "sg-...")`);
        if (!this.securityGroups.has(id))
          throw new AwsError('InvalidGroup.NotFound', `The security group '${id}' does not exist`);
      }
      items = items.filter((g) => ids.includes(g.GroupId));
    }
    if (Array.isArray(input.GroupNames)) {
      const names = input.GroupNames.map(String);
      // Without a VPC, GroupNames only address EC2-Classic / default-VPC groups.
      const defaultVpc = this.defaultVpcId();
      for (const name of names) {
        if (!items.some((g) => g.GroupName === name && g.VpcId === defaultVpc)) {
          throw new AwsError(
            'InvalidGroup.NotFound',
            `The security group '${name}' does not exist in default VPC '${defaultVpc ?? 'none'}'`,
          );
        }
      }
      items = items.filter((g) => names.includes(g.GroupName) && g.VpcId === defaultVpc);
    }
    items = applyFilters(items, filters, (g) => (f) => {
      switch (f) {
        case 'vpc-id':
          return [g.VpcId];
        case 'group-name':
          return [g.GroupName];
        case 'group-id':
          return [g.GroupId];
        case 'description':
          return [g.Description];
        case 'owner-id':
          return [g.OwnerId];
        default:
          return tagFields(g.Tags, f);
      }
    });
    const { page, next } = paginate(items, input);
    const out: ModelObject = {
      SecurityGroups: page.map((g) => ({
        Description: g.Description,
        GroupName: g.GroupName,
        IpPermissions: [],
        OwnerId: g.OwnerId,
        GroupId: g.GroupId,
        IpPermissionsEgress: [
          {
            IpProtocol: '-1',
            IpRanges: [{ CidrIp: '0.0.0.0/0' }],
            Ipv6Ranges: [],
            PrefixListIds: [],
            UserIdGroupPairs: [],
          },
        ],
        VpcId: g.VpcId,
        ...(g.Tags.length > 0 ? { Tags: tagsOut(g.Tags) } : {}),
      })),
    };
    if (next !== undefined) out.NextToken = next;
    return out;
  }

  handlers(): Record<string, (input: ModelObject) => ModelObject> {
    return {
      DescribeVpcs: (i) => this.describeVpcs(i),
      DescribeSubnets: (i) => this.describeSubnets(i),
      DescribeSecurityGroups: (i) => this.describeSecurityGroups(i),
    };
  }
}
