import { FARGATE_LAUNCH_TYPE } from '../launch-type.js';
import { launchTypeConformance } from './index.js';

launchTypeConformance('FARGATE (built in)', { make: () => FARGATE_LAUNCH_TYPE });
